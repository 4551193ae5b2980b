//! Plain types and rules, no I/O.

pub mod catalog;
pub mod deployment;
pub mod environment;
pub mod ids;
pub mod network;
pub mod scopes;
pub mod time;
pub mod validation;
