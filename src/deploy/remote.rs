//! The remote side of a deployment: one SSH session per server and user, opened on first use
//! and kept for the deployment, with host keys pinned on the first connection; and single
//! commands outside a deployment (connection checks, `.env` writes, clean-ups).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use russh::keys::PrivateKey;
use tokio::sync::{Mutex, OnceCell, Semaphore};

use crate::app::App;
use crate::db::{self, servers::Server};
use crate::domain::ids::ServerId;
use crate::domain::time::Timestamp;
use crate::ssh::{Session, SshError, Target};

pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A session once connected; shared by the callers waiting for it.
type SessionCell = Arc<OnceCell<Arc<Session>>>;

/// The sessions of one deployment.
pub(super) struct Pool<'a> {
    app: &'a App,
    keys: HashMap<ServerId, Arc<PrivateKey>>,
    pins: std::sync::Mutex<HashMap<ServerId, String>>,
    /// One cell per server and user: callers that ask at once share one connection attempt.
    sessions: Mutex<HashMap<(ServerId, String), SessionCell>>,
    connecting: Semaphore,
}

impl<'a> Pool<'a> {
    /// Opens each server's private key; connects nothing yet.
    pub(super) async fn new(app: &'a App, servers: &[Server]) -> anyhow::Result<Pool<'a>> {
        let mut keys = HashMap::new();
        for server in servers {
            keys.insert(server.id, private_key(app, server).await?);
        }
        Ok(Pool {
            app,
            keys,
            pins: std::sync::Mutex::new(
                servers
                    .iter()
                    .filter_map(|s| s.host_key.clone().map(|k| (s.id, k)))
                    .collect(),
            ),
            sessions: Mutex::new(HashMap::new()),
            connecting: Semaphore::new(app.engine.max_connecting.max(1)),
        })
    }

    /// Connects to each of `servers` as its user, all at once, so that the first step finds
    /// its sessions open; a server that cannot be reached is tried again by that step.
    pub(super) async fn connect_all(&self, servers: &[&Server]) {
        let connects = servers
            .iter()
            .map(|server| self.session(server, &server.connect_as));
        futures_util::future::join_all(connects).await;
    }

    /// The session to `server` as `user`, connecting (at most `max_connecting` at once) the
    /// first time.
    pub(super) async fn session(
        &self,
        server: &Server,
        user: &str,
    ) -> Result<Arc<Session>, SshError> {
        let key = (server.id, user.to_owned());
        let cell = self.sessions.lock().await.entry(key).or_default().clone();
        cell.get_or_try_init(|| self.connect(server, user))
            .await
            .cloned()
    }

    async fn connect(&self, server: &Server, user: &str) -> Result<Arc<Session>, SshError> {
        let _slot = self
            .connecting
            .acquire()
            .await
            .map_err(|_| SshError::Cancelled)?;
        let target = Target {
            host: server.host.clone(),
            port: u16::try_from(server.port).unwrap_or(22),
            user: user.to_owned(),
        };
        let pinned = self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&server.id)
            .cloned();
        let private = self
            .keys
            .get(&server.id)
            .cloned()
            .ok_or(SshError::Cancelled)?;
        let started = std::time::Instant::now();
        let connected =
            Session::connect(&target, private, pinned.as_deref(), CONNECT_TIMEOUT).await;
        self.app
            .metrics
            .ssh_connected(connected.is_ok(), started.elapsed());
        let session = match connected {
            Ok(session) => Arc::new(session),
            Err(err) => {
                let _ = db::servers::set_connection(
                    &mut &self.app.store,
                    server.id,
                    "failed",
                    Some(&err.to_string()),
                    None,
                    Timestamp::now(),
                )
                .await;
                return Err(err);
            }
        };
        if pinned.is_none() {
            pin(self.app, server, &session.host_key).await?;
            self.pins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(server.id, session.host_key.clone());
        }
        Ok(session)
    }

    /// Runs an internal command (not recorded as a process) as the server's user; answers
    /// its output, or why it failed.
    pub(super) async fn internal(&self, server: &Server, script: &str) -> Result<String, String> {
        let session = self
            .session(server, &server.connect_as)
            .await
            .map_err(|e| format!("{}: {e}", server.name))?;
        let mut text = Vec::new();
        let mut collect = |chunk: &[u8]| text.extend_from_slice(chunk);
        let exec = session.exec(script, None::<&[u8]>, &mut collect);
        let result = tokio::time::timeout(CONNECT_TIMEOUT * 2, exec).await;
        match result {
            Ok(Ok(exit)) if exit.success() => Ok(String::from_utf8_lossy(&text).into_owned()),
            Ok(Ok(_)) => Err(format!(
                "{}: {}",
                server.name,
                String::from_utf8_lossy(&text).trim()
            )),
            Ok(Err(err)) => Err(format!("{}: {err}", server.name)),
            Err(_) => Err(format!("{}: timed out", server.name)),
        }
    }

    pub(super) async fn close(self) {
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .await
            .drain()
            .filter_map(|(_, cell)| Arc::try_unwrap(cell).ok()?.into_inner())
            .collect();
        for session in sessions {
            if let Ok(session) = Arc::try_unwrap(session) {
                session.close().await;
            }
        }
    }
}

async fn private_key(app: &App, server: &Server) -> anyhow::Result<Arc<PrivateKey>> {
    let sealed = db::servers::private_key_sealed(&mut &app.store, server.id).await?;
    let text = String::from_utf8(app.vault.open(&sealed)?)?;
    crate::ssh::load_private_key(&text).context("a server key does not load")
}

/// Connects to `server` as its user and runs `script` once, feeding it `stdin` when given:
/// for connection checks, `.env` writes and clean-ups outside a deployment. The host key is
/// pinned on the first success, as during deployments. Answers the command's output, or why
/// it failed.
pub(crate) async fn run_once_with_input(
    app: &App,
    server: &Server,
    script: &str,
    stdin: Option<&[u8]>,
) -> Result<String, String> {
    let key = private_key(app, server)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let target = Target {
        host: server.host.clone(),
        port: u16::try_from(server.port).unwrap_or(22),
        user: server.connect_as.clone(),
    };
    let session = Session::connect(&target, key, server.host_key.as_deref(), CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if server.host_key.is_none() {
        pin(app, server, &session.host_key)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut output = Vec::new();
    let mut collect = |chunk: &[u8]| output.extend_from_slice(chunk);
    let exec = session.exec(script, stdin, &mut collect);
    let result = tokio::time::timeout(CONNECT_TIMEOUT * 4, exec).await;
    session.close().await;
    let text = String::from_utf8_lossy(&output).trim().to_owned();
    match result {
        Ok(Ok(exit)) if exit.success() => Ok(text),
        Ok(Ok(_)) if text.is_empty() => Err("the command failed".into()),
        Ok(Ok(_)) => Err(text),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

pub(crate) async fn run_once(app: &App, server: &Server, script: &str) -> Result<String, String> {
    run_once_with_input(app, server, script, None).await
}

/// Pins the host key a first connection saw, unless another connection pinned a different
/// key first: then this connection is refused, as for a changed key.
async fn pin(app: &App, server: &Server, seen: &str) -> Result<(), SshError> {
    let lost = |e: crate::error::Error| SshError::Lost(e.to_string());
    db::servers::pin_host_key(&mut &app.store, server.id, seen)
        .await
        .map_err(lost)?;
    let pinned = db::servers::get(&mut &app.store, server.project_id, server.id)
        .await
        .map_err(lost)?
        .and_then(|s| s.host_key);
    match pinned {
        Some(key) if key.split_whitespace().nth(1) != seen.split_whitespace().nth(1) => {
            Err(SshError::HostKeyChanged {
                target: server.name.clone(),
                expected: crate::ssh::fingerprint(&key),
                actual: crate::ssh::fingerprint(seen),
            })
        }
        _ => Ok(()),
    }
}
