//! Forms travel through approval workflows: definitions (`model`), the pure state machine
//! (`engine`).

pub mod diagram;
pub mod engine;
pub mod handlers;
pub mod model;
pub mod store;

#[cfg(test)]
mod tests;
