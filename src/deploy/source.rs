//! Preparing what a deployment ships: fetch the project's mirror, resolve the requested ref to
//! a commit, and write that commit's archive to a temporary file streamed to every server.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::db::{self, projects::Project};
use crate::domain::deployment::{Ending, RefKind};
use crate::git::{self, Commit, Mirror};

/// A commit ready to ship: its metadata, and its archive (removed when dropped).
pub(super) struct Source {
    pub commit: Commit,
    pub avatar: String,
    pub archive: tempfile::NamedTempFile,
}

/// Fetches, resolves and archives `requested` (a `kind` ref) of the project; a failure or a
/// cancel is the deployment's ending.
pub(super) async fn prepare(
    app: &App,
    project: &Project,
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
    let archive = tempfile::Builder::new()
        .prefix("release-")
        .suffix(".tar")
        .tempfile_in(&temp_dir)?;
    tokio::select! {
        archived = mirror.archive(&commit.sha, archive.path()) => if let Err(err) = archived {
            return Ok(Err(Ending::error(format!("Could not archive the commit: {err:#}"))));
        },
        _ = cancelled.wait_for(|c| *c) => return Ok(Err(Ending::cancelled())),
    }
    Ok(Ok(Source {
        avatar: git::avatar_url(&commit.author_email),
        commit,
        archive,
    }))
}
