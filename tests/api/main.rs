//! Black-box tests of the HTTP APIs, each on SQLite and on PostgreSQL.

mod helpers;

mod auth;
mod browser;
mod client;
mod collaborators;
mod dashboard;
mod delivery;
mod delta;
mod deploy;
mod deployments;
mod downtime;
mod environment;
mod fleet;
mod fuzz;
mod gitlab;
mod gitrepo;
mod health;
mod heartbeats;
mod hooks;
mod memory;
mod metrics;
mod nodes;
mod notifications;
mod openapi;
mod projects;
mod push;
mod python_gitlab;
mod receivers;
mod rollback;
mod servers;
mod ssh;
mod sshd;
mod upgrade;
mod web;
