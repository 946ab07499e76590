//! Integration tests: the real application over HTTP against a real PostgreSQL, and
//! browser tests in headless Chromium.

mod attachments;
mod bootstrap;
mod browser;
mod catalog;
mod center;
mod gateways;
mod generate;
mod helpers;
mod identity;
mod login;
mod notify;
mod pages;
mod security;
mod smtp;
mod wecom;
mod workflow;
