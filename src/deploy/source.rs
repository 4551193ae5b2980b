//! Preparing what a deployment ships: fetch the project's mirror, resolve the requested ref to
//! a commit, and for each server either a delta (what changed since the commit its source copy
//! holds) or the commit's whole tree, as files streamed to the servers.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{OnceCell, watch};

use super::scripts::Shipment;
use crate::app::App;
use crate::db::{self, projects::Project, servers::Server};
use crate::domain::deployment::{Ending, RefKind};
use crate::domain::ids::ServerId;
use crate::git::{self, Commit, Mirror};

/// Past this many changed paths, or this many bytes of them on git's command line, a delta
/// gains little over the whole tree: the whole tree goes.
const MOST_CHANGED_PATHS: usize = 5_000;
const MOST_CHANGED_BYTES: usize = 256 * 1024;

/// Whether a server can keep a source copy and take deltas: the scripts lean on GNU tools
/// that FreeBSD's base system lacks (`flock`, `cp --reflink`, `setsid`).
pub(super) fn keeps_source(server: &Server) -> bool {
    !server.freebsd
}

/// A commit ready to ship: its metadata, and what each server receives.
pub(super) struct Source {
    pub commit: Commit,
    pub avatar: String,
    mirror: Mirror,
    temp_dir: PathBuf,
    /// The whole tree, made the first time a server needs it.
    full: OnceCell<tempfile::NamedTempFile>,
    /// By base commit: the removed paths, then the archive of what changed.
    deltas: HashMap<String, Delta>,
    /// The base each server's delta starts from; servers not here get the whole tree.
    bases: HashMap<ServerId, String>,
    /// The servers that keep a source copy for deltas; the others get the whole tree
    /// unpacked straight into the release.
    keeps_source: std::collections::HashSet<ServerId>,
}

struct Delta {
    file: tempfile::NamedTempFile,
    removed_bytes: usize,
    changed: usize,
    shipped: usize,
}

/// Fetches and resolves `requested` (a `kind` ref) of the project, and prepares what each of
/// `servers` receives; a failure or a cancel is the deployment's ending.
pub(super) async fn prepare(
    app: &App,
    project: &Project,
    servers: &[Server],
    kind: RefKind,
    requested: &str,
    cancel: &watch::Receiver<bool>,
) -> anyhow::Result<Result<Source, Ending>> {
    let deploy_key = match db::projects::deploy_key_sealed(&mut &app.store, project.id).await? {
        Some(sealed) => Some(app.vault.open_string(&sealed)?),
        None => None,
    };
    let mirror = Mirror::new(
        &app.config.data_dir.join("git"),
        &app.config.data_dir.join("tmp"),
        project.id.0,
        deploy_key,
        Duration::from_secs(300),
    );
    let url = crate::domain::catalog::Provider::parse(&project.provider)
        .map(|p| p.clone_url(&project.repository))
        .unwrap_or_else(|| project.repository.clone());
    let mut cancelled = cancel.clone();
    tokio::select! {
        fetched = mirror.fetch(&url) => if let Err(err) = fetched {
            return Ok(Err(Ending::error(format!("Could not fetch the repository: {err:#}"))));
        },
        _ = cancelled.wait_for(|c| *c) => return Ok(Err(Ending::cancelled())),
    }
    let Some(sha) = mirror.resolve(kind, requested).await? else {
        return Ok(Err(Ending::error(format!(
            "The repository has no {kind} named {requested}."
        ))));
    };
    let commit = mirror.commit(&sha).await?;
    let temp_dir = app.config.data_dir.join("tmp");
    std::fs::create_dir_all(&temp_dir)?;
    let mut source = Source {
        avatar: git::avatar_url(&commit.author_email),
        commit,
        mirror,
        temp_dir,
        full: OnceCell::new(),
        deltas: HashMap::new(),
        bases: HashMap::new(),
        keeps_source: servers
            .iter()
            .filter(|s| project.delta_releases && keeps_source(s))
            .map(|s| s.id)
            .collect(),
    };
    let prepared = async {
        if project.delta_releases {
            source.plan_deltas(app, project, servers).await?;
        }
        // Made now, off the servers' clock, when some server needs it anyway.
        let code_servers = servers.iter().filter(|s| s.receives_code_deployments);
        if code_servers
            .clone()
            .any(|s| !source.bases.contains_key(&s.id))
        {
            source.full_archive().await?;
        }
        anyhow::Ok(())
    };
    tokio::select! {
        prepared = prepared => if let Err(err) = prepared {
            return Ok(Err(Ending::error(format!("Could not archive the commit: {err:#}"))));
        },
        _ = cancelled.wait_for(|c| *c) => return Ok(Err(Ending::cancelled())),
    }
    Ok(Ok(source))
}

impl Source {
    /// Picks, for each server whose source copy holds a commit the mirror knows, the delta
    /// from that commit, made once per distinct base.
    async fn plan_deltas(
        &mut self,
        app: &App,
        project: &Project,
        servers: &[Server],
    ) -> anyhow::Result<()> {
        let recorded = db::servers::source_commits(&mut &app.store, project.id).await?;
        for server in servers {
            if !server.receives_code_deployments || !keeps_source(server) {
                continue;
            }
            let Some(base) = recorded.get(&server.id) else {
                continue;
            };
            if !self.deltas.contains_key(base) {
                let Some(delta) = self.delta_from(base).await? else {
                    continue;
                };
                self.deltas.insert(base.clone(), delta);
            }
            self.bases.insert(server.id, base.clone());
        }
        Ok(())
    }

    /// The delta from `base` to the commit, or `None` when the whole tree must go.
    async fn delta_from(&self, base: &str) -> anyhow::Result<Option<Delta>> {
        if !self.mirror.has_commit(base).await {
            return Ok(None);
        }
        let Some(changes) = self.mirror.changes(base, &self.commit.sha).await? else {
            return Ok(None);
        };
        let bytes: usize = changes.shipped.iter().map(|p| p.len() + 1).sum();
        if changes.removed.len() > MOST_CHANGED_PATHS || bytes > MOST_CHANGED_BYTES {
            return Ok(None);
        }
        let mut removed = Vec::new();
        for path in &changes.removed {
            removed.extend_from_slice(path.as_bytes());
            removed.push(0);
        }
        let mut file = self.temp_file("release-delta-")?;
        file.write_all(&removed)?;
        if !changes.shipped.is_empty() {
            let archive = self.temp_file("delta-")?;
            self.mirror
                .archive_paths(&self.commit.sha, &changes.shipped, archive.path())
                .await?;
            std::io::copy(&mut std::fs::File::open(archive.path())?, &mut file)?;
        }
        file.flush()?;
        Ok(Some(Delta {
            file,
            removed_bytes: removed.len(),
            changed: changes.removed.len(),
            shipped: changes.shipped.len(),
        }))
    }

    fn temp_file(&self, prefix: &str) -> anyhow::Result<tempfile::NamedTempFile> {
        Ok(tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".tar")
            .tempfile_in(&self.temp_dir)?)
    }

    /// The commit's whole tree as a tar archive, made on first use.
    pub async fn full_archive(&self) -> anyhow::Result<&Path> {
        let file = self
            .full
            .get_or_try_init(|| async {
                let file = self.temp_file("release-")?;
                self.mirror.archive(&self.commit.sha, file.path()).await?;
                anyhow::Ok(file)
            })
            .await?;
        Ok(file.path())
    }

    /// What `server` receives, and the file that goes to its standard input.
    pub async fn shipment(&self, server: ServerId) -> anyhow::Result<(Shipment, &Path)> {
        if let Some(base) = self.bases.get(&server)
            && let Some(delta) = self.deltas.get(base)
        {
            let shipment = Shipment::Delta {
                base: base.clone(),
                deleted: delta.removed_bytes,
                changed: delta.changed,
                shipped: delta.shipped,
                total: delta.file.as_file().metadata()?.len(),
            };
            return Ok((shipment, delta.file.path()));
        }
        let whole = if self.keeps_source.contains(&server) {
            Shipment::Full
        } else {
            Shipment::Plain
        };
        Ok((whole, self.full_archive().await?))
    }

    /// Whether `paths` are the same in commit `other` as in the commit shipped.
    pub async fn unchanged_since(&self, other: &str, paths: &[&str]) -> bool {
        self.mirror.has_commit(other).await
            && self
                .mirror
                .same_files(other, &self.commit.sha, paths)
                .await
                .unwrap_or(false)
    }
}
