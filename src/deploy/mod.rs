//! The deployment engine: the plan, the release scripts, running steps on all servers with
//! barriers, the worker that takes queued deployments, and live output.

pub mod hub;
pub mod plan;
mod run;
pub mod scripts;
pub mod worker;

pub(crate) use run::{run_once, run_once_with_input};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::domain::ids::DeploymentId;

/// The engine's shared state (held by `App`): who this node is, the wake-up bell for the
/// worker, the cancel switches of the deployments running here, and their live output.
pub struct Engine {
    pub node: String,
    pub max_connecting: usize,
    pub lease: Duration,
    pub hub: hub::LogHub,
    wake: Notify,
    cancels: Mutex<HashMap<DeploymentId, watch::Sender<bool>>>,
}

impl Engine {
    pub fn new(node: String, max_connecting: usize) -> Engine {
        Engine {
            node,
            max_connecting,
            lease: Duration::from_secs(30),
            hub: hub::LogHub::default(),
            wake: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
        }
    }

    /// Tells the worker that a deployment may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a deployment running on this node, at once; `false` if it does not run here.
    pub fn cancel(&self, id: DeploymentId) -> bool {
        match self
            .cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            Some(switch) => {
                let _ = switch.send(true);
                true
            }
            None => false,
        }
    }

    fn register(&self, id: DeploymentId) -> watch::Receiver<bool> {
        let (switch, receiver) = watch::channel(false);
        self.cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, switch);
        receiver
    }

    fn unregister(&self, id: DeploymentId) {
        self.cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}
