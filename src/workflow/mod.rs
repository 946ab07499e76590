//! Forms travel through approval workflows: definitions (`model`), the pure state machine
//! (`engine`).

pub mod engine;
pub mod model;

#[cfg(test)]
mod tests;
