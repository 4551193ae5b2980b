//! A real OpenSSH server on loopback for the tests: the test binds the port, and each accepted
//! connection is handed to its own `sshd -i` (inetd mode), so there is no start-up to wait for
//! and no port to race for. Everything stops when the value is dropped.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::Once;

pub struct Sshd {
    pub port: u16,
    dir: tempfile::TempDir,
    accept: tokio::task::JoinHandle<()>,
}

/// Unix users the tests deploy as: `slipway-deploy` connects, `slipway-hook` runs hooks.
pub const DEPLOY_USER: &str = "slipway-deploy";
pub const HOOK_USER: &str = "slipway-hook";

pub fn ensure_test_users() {
    static USERS: Once = Once::new();
    USERS.call_once(|| {
        for user in [DEPLOY_USER, HOOK_USER] {
            let exists = Command::new("id")
                .arg(user)
                .output()
                .unwrap()
                .status
                .success();
            if !exists {
                let status = Command::new("useradd")
                    .args(["--create-home", "--shell", "/bin/bash", user])
                    .status()
                    .expect("useradd (the deployment tests run as root)");
                assert!(status.success(), "useradd {user}");
            }
            // A new account is locked ("!"), and sshd refuses locked accounts even for key
            // logins; "*" means "no password" without locking.
            let status = Command::new("usermod")
                .args(["-p", "*", user])
                .status()
                .unwrap();
            assert!(status.success(), "usermod {user}");
        }
        std::fs::create_dir_all("/run/sshd").unwrap();
    });
}

impl Sshd {
    pub async fn start() -> Sshd {
        ensure_test_users();
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir(dir.path().join("authorized_keys")).unwrap();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "HostKey {host}\nAuthorizedKeysFile {dir}/authorized_keys/%u\nStrictModes no\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n\
                 PidFile none\nMaxSessions 100\n",
                host = host_key.display(),
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stream = stream.into_std().unwrap();
                stream.set_nonblocking(false).unwrap();
                let fd: OwnedFd = stream.into();
                let input = fd.try_clone().unwrap();
                let child = tokio::process::Command::new("/usr/sbin/sshd")
                    .arg("-i")
                    .arg("-f")
                    .arg(&config)
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(fd))
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .spawn();
                if let Ok(mut child) = child {
                    tokio::spawn(async move {
                        let _ = child.wait().await;
                    });
                }
            }
        });
        Sshd { port, dir, accept }
    }

    /// Lets `public_key` log in as `user`.
    pub fn authorize(&self, user: &str, public_key: &str) {
        let path = self.dir.path().join("authorized_keys").join(user);
        let mut keys = std::fs::read_to_string(&path).unwrap_or_default();
        keys.push_str(public_key.trim());
        keys.push('\n');
        std::fs::write(path, keys).unwrap();
    }

    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap()
    }

    /// Replaces the host key, as a rebuilt server would.
    pub fn change_host_key(&self) {
        let key = self.dir.path().join("host_key");
        std::fs::remove_file(&key).unwrap();
        std::fs::remove_file(key.with_extension("pub")).unwrap();
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
