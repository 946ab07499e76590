//! 网上办事服务大厅 — a university's one-stop online service hall.

// For every binary built on this library (the server, its tests and benchmarks): request
// handling is many small, short-lived allocations across threads, where glibc's malloc
// showed up at ~6 % of the CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod admin;
pub mod api;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod center;
pub mod clock;
pub mod collect;
pub mod config;
pub mod db;
pub mod documents;
pub mod error;
pub mod forms;
pub mod generate;
pub mod home;
pub mod identity;
pub mod jobs;
pub mod mask;
pub mod notify;
pub mod org;
pub mod package;
pub mod routes;
pub mod secret;
pub mod seed;
pub mod startup;
pub mod stats;
pub mod telemetry;
pub mod web;
pub mod workflow;

/// Several dependencies bring rustls with different crypto back ends; choose one for the
/// process before any TLS connection (outgoing notification gateways).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
