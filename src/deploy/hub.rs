//! Live output of running deployments: what each one printed so far, and a broadcast of what
//! comes next, so that a viewer can replay from the start and then follow.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::ids::DeploymentId;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LogEvent {
    /// A chunk of a process's standard output or error.
    Output {
        process_id: i64,
        server: Option<String>,
        text: String,
    },
    /// A process changed status.
    Process { process_id: i64, status: String },
    /// The deployment ended.
    End { status: String },
}

struct Live {
    history: Vec<LogEvent>,
    sender: broadcast::Sender<LogEvent>,
}

#[derive(Default)]
pub struct LogHub {
    live: Mutex<HashMap<DeploymentId, Live>>,
}

impl LogHub {
    pub fn open(&self, id: DeploymentId) {
        let (sender, _) = broadcast::channel(1024);
        self.lock().insert(
            id,
            Live {
                history: Vec::new(),
                sender,
            },
        );
    }

    pub fn publish(&self, id: DeploymentId, event: LogEvent) {
        if let Some(live) = self.lock().get_mut(&id) {
            let _ = live.sender.send(event.clone());
            live.history.push(event);
        }
    }

    /// Sends the final event and forgets the deployment (its output is in the database now).
    pub fn close(&self, id: DeploymentId, status: &str) {
        if let Some(live) = self.lock().remove(&id) {
            let _ = live.sender.send(LogEvent::End {
                status: status.to_owned(),
            });
        }
    }

    /// Forgets the deployment without an end: its followers go on following the record
    /// until the end is recorded.
    pub fn forget(&self, id: DeploymentId) {
        self.lock().remove(&id);
    }

    /// Everything printed so far and a receiver for what follows, or `None` when the
    /// deployment is not running here.
    pub fn subscribe(
        &self,
        id: DeploymentId,
    ) -> Option<(Vec<LogEvent>, broadcast::Receiver<LogEvent>)> {
        let live = self.lock();
        live.get(&id)
            .map(|l| (l.history.clone(), l.sender.subscribe()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentId, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}
