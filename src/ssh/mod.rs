//! SSH to the servers (russh): connect with a server's own key, pin its host key, run commands
//! with streamed output and optionally streamed input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, client};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a connection or a command failed, in words fit for a deployment log.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("could not connect to {0}: {1}")]
    Connect(String, String),
    #[error(
        "the host key of {target} changed: expected {expected}, got {actual}. If the server was \
         rebuilt on purpose, reset the pinned key (DELETE …/servers/{{id}}/host-key)"
    )]
    HostKeyChanged {
        target: String,
        expected: String,
        actual: String,
    },
    #[error("{0} refused the server's key for user {1}")]
    AuthRejected(String, String),
    #[error("timed out after {0} s")]
    Timeout(u64),
    #[error("the connection was lost: {0}")]
    Lost(String),
    #[error("cancelled")]
    Cancelled,
}

/// Where to connect, and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// A private key in OpenSSH format.
pub fn load_private_key(openssh: &str) -> Option<Arc<PrivateKey>> {
    PrivateKey::from_openssh(openssh).ok().map(Arc::new)
}

/// `SHA256:…`, as `ssh-keygen -l` shows it.
pub fn fingerprint(openssh_public_key: &str) -> String {
    PublicKey::from_openssh(openssh_public_key.trim())
        .map(|key| key.fingerprint(HashAlg::Sha256).to_string())
        .unwrap_or_else(|_| "an unreadable key".to_owned())
}

struct HostKeyCheck {
    pinned: Option<PublicKey>,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key else {
            return Ok(false);
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        Ok(match &self.pinned {
            // Trust on first use: the caller pins what it saw once the connection succeeds.
            None => true,
            Some(pinned) => pinned.key_data() == key.key_data(),
        })
    }
}

/// One authenticated SSH connection; each command runs on its own channel.
pub struct Session {
    handle: client::Handle<HostKeyCheck>,
    /// The server's host key in OpenSSH format, to pin after a first connection.
    pub host_key: String,
}

/// What a finished command left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(u32),
    Signal,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl Session {
    /// Connects and authenticates. `pinned` is the host key recorded earlier, if any: a
    /// different key refuses the connection.
    pub async fn connect(
        target: &Target,
        key: Arc<PrivateKey>,
        pinned: Option<&str>,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let pinned = match pinned {
            Some(text) => Some(PublicKey::from_openssh(text.trim()).map_err(|_| {
                SshError::Connect(
                    target.to_string(),
                    "the pinned host key is unreadable".into(),
                )
            })?),
            None => None,
        };
        let seen = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            pinned: pinned.clone(),
            seen: seen.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 4,
            nodelay: true,
            ..Default::default()
        });
        let connecting = async {
            let connected =
                client::connect(config, (target.host.as_str(), target.port), check).await;
            let mut handle = match connected {
                Ok(handle) => handle,
                Err(err) => {
                    let offered = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    return Err(match (&pinned, offered) {
                        (Some(expected), Some(actual))
                            if expected.key_data() != actual.key_data() =>
                        {
                            SshError::HostKeyChanged {
                                target: target.to_string(),
                                expected: expected.fingerprint(HashAlg::Sha256).to_string(),
                                actual: actual.fingerprint(HashAlg::Sha256).to_string(),
                            }
                        }
                        _ => SshError::Connect(target.to_string(), err.to_string()),
                    });
                }
            };
            let auth = handle
                .authenticate_publickey(&target.user, PrivateKeyWithHashAlg::new(key, None))
                .await
                .map_err(|err| SshError::Connect(target.to_string(), err.to_string()))?;
            if !auth.success() {
                return Err(SshError::AuthRejected(
                    target.to_string(),
                    target.user.clone(),
                ));
            }
            Ok(handle)
        };
        let handle = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| SshError::Timeout(timeout.as_secs()))??;
        let host_key = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|key| key.to_openssh().ok())
            .ok_or_else(|| {
                SshError::Connect(target.to_string(), "no host key was offered".into())
            })?;
        Ok(Session { handle, host_key })
    }

    /// Runs `command` (through the remote user's shell), feeding it `stdin` when given and
    /// passing every chunk of its stdout and stderr to `output` as it arrives.
    pub async fn exec<R>(
        &self,
        command: &str,
        stdin: Option<R>,
        output: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Exit, SshError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let lost = |err: russh::Error| SshError::Lost(err.to_string());
        let channel = self.handle.channel_open_session().await.map_err(lost)?;
        channel.exec(true, command).await.map_err(lost)?;
        let (mut read, write) = channel.split();
        let feed = async {
            if let Some(mut stdin) = stdin {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let n = stdin
                        .read(&mut buffer)
                        .await
                        .map_err(|err| SshError::Lost(format!("reading local input: {err}")))?;
                    if n == 0 {
                        break;
                    }
                    write
                        .data_bytes(bytes::Bytes::copy_from_slice(&buffer[..n]))
                        .await
                        .map_err(lost)?;
                }
            }
            write.eof().await.map_err(lost)?;
            Ok::<(), SshError>(())
        };
        let drain = async {
            let mut exit = None;
            while let Some(message) = read.wait().await {
                match message {
                    ChannelMsg::Data { data } => output(&data),
                    ChannelMsg::ExtendedData { data, .. } => output(&data),
                    ChannelMsg::ExitStatus { exit_status } => exit = Some(Exit::Code(exit_status)),
                    ChannelMsg::ExitSignal { .. } => exit = Some(Exit::Signal),
                    _ => {}
                }
            }
            exit.ok_or_else(|| SshError::Lost("the command ended without an exit status".into()))
        };
        let (fed, exit) = tokio::join!(feed, drain);
        // A command may exit without reading all its input (that is its own failure to report).
        let exit = exit?;
        if let Err(err) = fed
            && exit.success()
        {
            return Err(err);
        }
        Ok(exit)
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Quotes a value for a POSIX shell: `it's` becomes `'it'\''s'`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_survives_every_metacharacter() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
