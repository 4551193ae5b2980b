//! Slipway: a self-hosted zero-downtime deployment server.
#![recursion_limit = "256"]

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod crypto;
pub mod db;
pub mod deploy;
pub mod domain;
pub mod error;
pub mod git;
pub mod http;
pub mod jobs;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod services;
pub mod ssh;
pub mod web;
