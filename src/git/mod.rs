//! Git on the control plane, with the `git` program: one bare mirror per project, ref
//! resolution, commit metadata and release archives. Servers never talk to the git provider.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;

/// What a deployment ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub author_name: String,
    pub author_email: String,
    pub subject: String,
}

pub use crate::domain::deployment::RefKind;

/// A project's bare mirror under the data directory.
pub struct Mirror {
    path: PathBuf,
    /// Private key for ssh URLs (OpenSSH format), written to a 0600 file only while git runs.
    ssh_key: Option<SecretString>,
    /// Where that file goes (under the data directory, swept on start).
    key_dir: PathBuf,
    known_hosts: PathBuf,
    timeout: Duration,
}

impl Mirror {
    pub fn new(
        root: &Path,
        key_dir: &Path,
        project: i64,
        ssh_key: Option<SecretString>,
        timeout: Duration,
    ) -> Mirror {
        Mirror {
            path: root.join(format!("{project}.git")),
            ssh_key,
            key_dir: key_dir.to_path_buf(),
            known_hosts: root.join("known_hosts"),
            timeout,
        }
    }

    async fn git(&self, args: &[&str], dir: Option<&Path>) -> anyhow::Result<String> {
        let key_file = match &self.ssh_key {
            Some(key) => Some(write_key_file(&self.key_dir, key.expose_secret())?),
            None => None,
        };
        let mut command = Command::new("git");
        if let Some(dir) = dir {
            command.arg("-C").arg(dir);
        }
        command
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(key) = &key_file {
            command.env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
                     -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
                    crate::ssh::quote(&key.path().to_string_lossy()),
                    crate::ssh::quote(&self.known_hosts.to_string_lossy())
                ),
            );
        }
        let output = tokio::time::timeout(self.timeout, command.output())
            .await
            .with_context(|| format!("git {} timed out", args[0]))?
            .context("running git")?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("git {} failed: {}", args[0], stderr.trim());
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Creates the mirror, or brings it up to date with `url`.
    pub async fn fetch(&self, url: &str) -> anyhow::Result<()> {
        if url.starts_with('-') {
            bail!("refusing a repository URL that starts with '-'");
        }
        if !self.path.join("HEAD").exists() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let target = self.path.to_string_lossy().into_owned();
            let _ = std::fs::remove_dir_all(&self.path);
            self.git(&["clone", "--mirror", "--quiet", "--", url, &target], None)
                .await?;
            return Ok(());
        }
        self.git(
            &["remote", "set-url", "origin", "--", url],
            Some(&self.path),
        )
        .await?;
        self.git(
            &[
                "fetch",
                "--prune",
                "--prune-tags",
                "--force",
                "--quiet",
                "origin",
            ],
            Some(&self.path),
        )
        .await?;
        Ok(())
    }

    /// The commit a branch, tag or (abbreviated) hash names, or `None` when there is none.
    pub async fn resolve(&self, kind: RefKind, name: &str) -> anyhow::Result<Option<String>> {
        let spec = match kind {
            RefKind::Branch => format!("refs/heads/{name}^{{commit}}"),
            RefKind::Tag => format!("refs/tags/{name}^{{commit}}"),
            RefKind::Sha => format!("{name}^{{commit}}"),
        };
        match self
            .git(
                &["rev-parse", "--verify", "--quiet", &spec],
                Some(&self.path),
            )
            .await
        {
            Ok(out) => Ok(Some(out.trim().to_owned()).filter(|s| !s.is_empty())),
            Err(_) => Ok(None),
        }
    }

    pub async fn commit(&self, sha: &str) -> anyhow::Result<Commit> {
        let out = self
            .git(
                &["log", "-1", "--format=%H%x00%an%x00%ae%x00%s", sha, "--"],
                Some(&self.path),
            )
            .await?;
        let mut parts = out.trim_end_matches('\n').splitn(4, '\0');
        let (Some(sha), Some(name), Some(email), Some(subject)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            bail!("unexpected git log output");
        };
        Ok(Commit {
            sha: sha.to_owned(),
            author_name: name.to_owned(),
            author_email: email.to_owned(),
            subject: subject.to_owned(),
        })
    }

    /// Whether the mirror holds commit `sha`.
    pub async fn has_commit(&self, sha: &str) -> bool {
        is_commit_hash(sha)
            && self
                .git(
                    &["cat-file", "-e", &format!("{sha}^{{commit}}")],
                    Some(&self.path),
                )
                .await
                .is_ok()
    }

    /// What changed from commit `from` to commit `to`, file by file (a rename is a deletion
    /// and an addition). `None` when a delta cannot reproduce the full tree exactly: a
    /// submodule, `export-subst` or `export-ignore` attributes, a changed `.gitattributes`
    /// (its conversions apply to unchanged files too), a path below a symbolic link, or a path
    /// that is not plain relative UTF-8.
    pub async fn changes(&self, from: &str, to: &str) -> anyhow::Result<Option<Changes>> {
        let mut links = std::collections::HashSet::new();
        for sha in [from, to] {
            let Some(tree_links) = self.plain_tree_links(sha).await? else {
                return Ok(None);
            };
            links.extend(tree_links);
        }
        let out = self
            .git(
                &["diff-tree", "-r", "-z", "--no-renames", "--raw", from, to],
                Some(&self.path),
            )
            .await?;
        let mut changes = Changes::default();
        let mut fields = out.split('\0');
        while let Some(meta) = fields.next() {
            if meta.is_empty() {
                continue;
            }
            let Some(path) = fields.next() else {
                bail!("unexpected git diff-tree output");
            };
            // `:oldmode newmode oldsha newsha status`
            let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
            let [old_mode, new_mode, _, _, status] = parts[..] else {
                bail!("unexpected git diff-tree output");
            };
            let below_link = path
                .match_indices('/')
                .any(|(end, _)| links.contains(&path[..end]));
            let attributes = path == ".gitattributes" || path.ends_with("/.gitattributes");
            if old_mode == "160000"
                || new_mode == "160000"
                || !is_plain_path(path)
                || below_link
                || attributes
            {
                return Ok(None);
            }
            changes.removed.push(path.to_owned());
            if status != "D" {
                changes.shipped.push(path.to_owned());
            }
        }
        Ok(Some(changes))
    }

    /// The symbolic links of commit `sha`'s tree, or `None` when its attributes change what
    /// `git archive` writes (`export-subst`, `export-ignore`).
    async fn plain_tree_links(&self, sha: &str) -> anyhow::Result<Option<Vec<String>>> {
        let listing = self
            .git(&["ls-tree", "-r", "-z", sha], Some(&self.path))
            .await?;
        let mut links = Vec::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            // `<mode> <type> <object>\t<path>`
            let Some((meta, path)) = entry.split_once('\t') else {
                bail!("unexpected git ls-tree output");
            };
            if meta.starts_with("120000 ") {
                links.push(path.to_owned());
            }
            if path == ".gitattributes" || path.ends_with("/.gitattributes") {
                let text = self
                    .git(
                        &["cat-file", "-p", &format!("{sha}:{path}")],
                        Some(&self.path),
                    )
                    .await?;
                if text.contains("export-subst") || text.contains("export-ignore") {
                    return Ok(None);
                }
            }
        }
        Ok(Some(links))
    }

    /// Whether `paths` are the same in commits `a` and `b` (missing in both counts as same).
    pub async fn same_files(&self, a: &str, b: &str, paths: &[&str]) -> anyhow::Result<bool> {
        let mut args = vec!["diff-tree", "-r", "--name-only", a, b, "--"];
        args.extend_from_slice(paths);
        Ok(self.git(&args, Some(&self.path)).await?.trim().is_empty())
    }

    /// Writes `paths` of commit `sha` (files or symbolic links, with their modes) as a
    /// gzipped tar archive to `target` (a small one is mostly a tar record's zero padding).
    pub async fn archive_paths(
        &self,
        sha: &str,
        paths: &[String],
        target: &Path,
    ) -> anyhow::Result<()> {
        let target = target.to_string_lossy().into_owned();
        let mut args = vec![
            "--literal-pathspecs",
            "archive",
            "--format=tar.gz",
            "-o",
            &target,
            sha,
            "--",
        ];
        args.extend(paths.iter().map(String::as_str));
        self.git(&args, Some(&self.path)).await?;
        Ok(())
    }

    /// Writes the tree of `sha` as a tar archive to `target`.
    pub async fn archive(&self, sha: &str, target: &Path) -> anyhow::Result<()> {
        let target = target.to_string_lossy().into_owned();
        self.git(
            &["archive", "--format=tar", "-o", &target, sha],
            Some(&self.path),
        )
        .await?;
        Ok(())
    }
}

/// What changed between two commits.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Every path that changed: each is removed before the new versions are unpacked.
    pub removed: Vec<String>,
    /// The paths added or changed, to ship.
    pub shipped: Vec<String>,
}

/// A path as git stores it in a tree, safe to hand to a remote `rm`: relative, with no empty,
/// `.` or `..` component, valid UTF-8.
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\u{fffd}')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && part != ".git")
}

/// A temporary 0600 file holding a private key; removed when dropped.
fn write_key_file(dir: &Path, key: &str) -> anyhow::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix("slipway-key-")
        .tempfile_in(dir)
        .context("creating a key file")?;
    file.write_all(key.as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// A full or abbreviated commit hash.
pub fn is_commit_hash(text: &str) -> bool {
    (7..=40).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Gravatar's image URL for an e-mail address (Gravatar takes SHA-256 hashes of it).
pub fn avatar_url(email: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(email.trim().to_lowercase().as_bytes());
    format!(
        "https://www.gravatar.com/avatar/{}?s=80&d=identicon",
        hex::encode(hash)
    )
}

#[cfg(test)]
mod tests {
    use super::is_plain_path;

    #[test]
    fn only_plain_relative_paths_reach_a_server() {
        assert!(is_plain_path("src/app.php"));
        assert!(is_plain_path("with space/and-dash"));
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "./a",
            "a//b",
            ".git/config",
            "x/\u{fffd}",
        ] {
            assert!(!is_plain_path(bad), "{bad:?}");
        }
    }
}
