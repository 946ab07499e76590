//! Applications travel through approval workflows.
//!
//! - `model` (definitions) and `engine` (the pure state machine: state + action → new
//!   state + effects) know nothing of the database or HTTP;
//! - `usecase`: submit, save a draft, resubmit, act, withdraw, urge, rate, read — plain
//!   functions over the pool that the web handlers (and tests) call;
//! - `store`: every SQL statement on workflow's tables, with named row types;
//! - `web`: the pages and actions, each parsing, calling one use case and rendering;
//! - `reminders`: the background job for overdue tasks (scheduled by `crate::jobs`).

pub mod check;
pub mod diagram;
pub mod engine;
pub mod milestones;
pub mod model;
pub mod reminders;
pub mod signature;
pub mod store;
pub mod usecase;
pub mod web;

#[cfg(test)]
mod tests;
