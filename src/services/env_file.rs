//! The project's `.env` file, encrypted under a key only its users know.

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::crypto::UserSealed;
use crate::db;
use crate::deploy::scripts;
use crate::domain::ids::{ProjectId, ServerId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem, check_max_len};
use crate::error::{Error, Failure, Result};
use crate::services::access::{self, Principal};
use crate::services::records;

const MAX_CONTENTS: usize = 1024 * 1024;

fn read_key(params: &Params, errors: &mut FieldErrors) -> Option<SecretString> {
    let key = params.raw_string("key", errors).filter(|k| !k.is_empty());
    match key {
        Some(key) => {
            check_max_len("key", &key, 255, errors);
            Some(SecretString::from(key))
        }
        None => {
            if !errors.has("key") {
                errors.add("key", Problem::Required);
            }
            None
        }
    }
}

fn wrong_key() -> Error {
    Error::invalid("key", Problem::KeyDoesNotUnlock)
}

/// What is stored, opened with a key: the contents (empty while nothing is stored) and the
/// sealed text they came from, for a later compare-and-swap.
struct Opened {
    contents: SecretString,
    sealed: Option<String>,
}

async fn open(app: &App, project: ProjectId, key: SecretString) -> Result<Opened> {
    let stored = db::projects::sealed_environment(&mut &app.store, project).await?;
    let (Some(salt), Some(sealed)) = (stored.environment_salt, stored.environment_sealed) else {
        return Ok(Opened {
            contents: SecretString::from(String::new()),
            sealed: None,
        });
    };
    let stored = UserSealed {
        salt,
        sealed: sealed.clone(),
    };
    let contents = app
        .passphrases
        .open(key, stored)
        .await?
        .ok_or_else(wrong_key)?;
    Ok(Opened {
        contents,
        sealed: Some(sealed),
    })
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<SecretString> {
    access::project(app, who, project).await?;
    let mut errors = FieldErrors::default();
    let key = read_key(params, &mut errors);
    errors.into_result()?;
    let key = key.ok_or_else(wrong_key)?;
    Ok(open(app, project, key).await?.contents)
}

pub async fn servers(
    app: &App,
    who: &Principal,
    project: ProjectId,
) -> Result<Vec<records::Server>> {
    access::project(app, who, project).await?;
    Ok(records::all(
        db::servers::list_environment_servers(&mut &app.store, project).await?,
    ))
}

/// Update Environment: replaces the contents (the key must open what is stored, if anything
/// is) and, when `servers` is given, which servers receive it.
pub async fn update(app: &App, who: &Principal, project: ProjectId, params: &Params) -> Result<()> {
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    let mut errors = FieldErrors::default();
    let key = read_key(params, &mut errors);
    let contents = params.raw_string("contents", &mut errors);
    if contents.is_none() && !errors.has("contents") {
        errors.add("contents", Problem::Required);
    }
    if let Some(contents) = &contents
        && contents.len() > MAX_CONTENTS
    {
        errors.add("contents", Problem::TooLarge(MAX_CONTENTS / 1024));
    }
    let servers = params.integer_list("servers", &mut errors);
    errors.into_result()?;
    let (Some(key), Some(contents)) = (key, contents) else {
        return Err(Error::invalid("contents", Problem::Required));
    };
    let servers: Option<Vec<ServerId>> = servers.map(|ids| ids.into_iter().map(ServerId).collect());
    if let Some(servers) = &servers {
        let unknown = db::servers::missing_from_project(&mut &app.store, project, servers).await?;
        if !unknown.is_empty() {
            return Err(Error::invalid("servers", Problem::NotTheProjectsServers));
        }
    }

    let current = open(
        app,
        project,
        SecretString::from(key.expose_secret().to_owned()),
    )
    .await?;
    let contents_for_servers = SecretString::from(contents.clone());
    let sealed = app.passphrases.seal(key, contents).await?;
    let mut tx = app.store.begin().await?;
    let replaced = db::projects::replace_sealed_environment(
        &mut tx,
        project,
        current.sealed.as_deref(),
        &sealed.salt,
        &sealed.sealed,
        Timestamp::now(),
    )
    .await?;
    if !replaced {
        return Err(Error::Failed(Failure::ChangedMeanwhile));
    }
    tx.commit().await?;

    // Then the file itself, on the listed servers (or those that already hold it).
    let targets = match servers {
        Some(ids) => ids,
        None => db::servers::list_environment_servers(&mut &app.store, project)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    };
    let all = db::servers::list(&mut &app.store, project).await?;
    let contents = contents_for_servers.expose_secret().as_bytes();
    let writes = all
        .iter()
        .filter(|s| targets.contains(&s.id))
        .map(|server| async move {
            let script = scripts::write_env(&server.deployment_path);
            let written =
                crate::deploy::run_once_with_input(app, server, &script, Some(contents)).await;
            (server, written)
        });
    let results = futures_util::future::join_all(writes).await;
    let written: Vec<ServerId> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(s, _)| s.id)
        .collect();
    db::servers::set_environment_servers(&mut &app.store, project, &written).await?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{} ({e})", s.name)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(Failure::NotWritten(failed)))
    }
}

/// Reset Environment Key: wipes the contents and starts over, empty, under the new key.
pub async fn reset(app: &App, who: &Principal, project: ProjectId, params: &Params) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Environments)).await?;
    let mut errors = FieldErrors::default();
    let key = read_key(params, &mut errors);
    errors.into_result()?;
    let key = key.ok_or_else(wrong_key)?;
    let sealed = app.passphrases.seal(key, String::new()).await?;
    let mut tx = app.store.begin().await?;
    db::projects::set_sealed_environment(
        &mut tx,
        project,
        &sealed.salt,
        &sealed.sealed,
        Timestamp::now(),
    )
    .await?;
    db::servers::set_environment_servers(&mut tx, project, &[]).await?;
    tx.commit().await
}
