//! The deployment engine: the plan, the release scripts, running steps on all servers with
//! barriers (`fleet`), preparing the source, the remote sessions, releases and rollbacks,
//! environment teardown, the worker that takes queued deployments, and live output. It knows
//! `db` and `domain`, never `services`: services call it with plain inputs.

mod fleet;
pub mod hub;
pub mod plan;
pub mod releases;
mod remote;
mod run;
pub mod scripts;
mod source;
mod teardown;
pub mod worker;

pub(crate) use remote::{run_once, run_once_with_input};
pub(crate) use run::{history, record_plan};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::domain::deployment::DeploymentKind;
use crate::domain::ids::{DeploymentId, ProjectId};

/// A deployment that ended on this node, for whoever acts on endings (the health check after
/// a deployment).
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub id: DeploymentId,
    pub project: ProjectId,
    pub kind: DeploymentKind,
}

/// The engine's shared state (held by `App`): who this node is, the wake-up bell for the
/// worker, the cancel switches of the deployments running here, and their live output.
pub struct Engine {
    pub node: String,
    pub max_connecting: usize,
    pub lease: Duration,
    pub hub: hub::LogHub,
    wake: Notify,
    cancels: Mutex<HashMap<DeploymentId, watch::Sender<bool>>>,
    ended: tokio::sync::broadcast::Sender<Ended>,
}

impl Engine {
    pub fn new(node: String, max_connecting: usize, lease: Duration) -> Engine {
        Engine {
            node,
            max_connecting,
            lease,
            hub: hub::LogHub::default(),
            wake: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
            ended: tokio::sync::broadcast::channel(64).0,
        }
    }

    /// Deployments as they end on this node.
    pub fn endings(&self) -> tokio::sync::broadcast::Receiver<Ended> {
        self.ended.subscribe()
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
