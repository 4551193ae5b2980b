//! Push to deploy: provider web hooks (GitHub, GitLab, Bitbucket) deploy a project's branch
//! when a push reaches it.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::app::App;
use crate::crypto;
use crate::db;
use crate::domain::ids::ProjectId;
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{Params, Problem};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::deployments;
use crate::services::records::Deployment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Github,
    Gitlab,
    Bitbucket,
}

/// One delivery as the provider sent it.
pub struct Delivery<'a> {
    pub provider: Provider,
    /// `X-GitHub-Event`, `X-Gitlab-Event` or `X-Event-Key`.
    pub event: &'a str,
    /// `X-Hub-Signature-256` (GitHub), `X-Gitlab-Token` (GitLab) or `X-Hub-Signature`
    /// (Bitbucket).
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

pub enum Outcome {
    Deployed(Box<Deployment>),
    Ignored(String),
}

/// Creates (or replaces) the project's web hook secret; the plain secret exists only in the
/// answer.
pub async fn rotate_secret(app: &App, who: &Principal, project: ProjectId) -> Result<SecretString> {
    access::project_for(app, who, project, Scope::create(Resource::Projects)).await?;
    let secret = crypto::random_token(40);
    db::projects::set_webhook_secret(
        &mut &app.store,
        project,
        &app.vault.seal_str(&secret),
        Timestamp::now(),
    )
    .await?;
    Ok(SecretString::from(secret))
}

/// Checks a delivery for the project whose deploy token is `token`, and deploys when it is a
/// push to the project's branch and push to deploy is on.
pub async fn receive(app: &App, token: &str, delivery: &Delivery<'_>) -> Result<Outcome> {
    let (project, owner) =
        db::projects::find_by_token_hash(&mut &app.store, &crypto::token_hash(token))
            .await?
            .ok_or(Error::NotFound)?;
    let sealed = db::projects::webhook_secret_sealed(&mut &app.store, project)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let secret = app.vault.open_string(&sealed)?;
    let signature = delivery.signature.ok_or(Error::Unauthenticated)?;
    let genuine = match delivery.provider {
        Provider::Gitlab => crypto::secrets_match(secret.expose_secret(), signature),
        Provider::Github | Provider::Bitbucket => {
            crypto::verify_hmac_sha256(secret.expose_secret(), delivery.body, signature)
        }
    };
    if !genuine {
        return Err(Error::Unauthenticated);
    }

    let payload: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| Error::invalid("body", Problem::PayloadNotJson))?;
    let Some(branch) = pushed_branch(delivery.provider, delivery.event, &payload) else {
        return Ok(Outcome::Ignored(format!(
            "The {} event was ignored.",
            delivery.event
        )));
    };
    let view = super::projects::load(app, project).await?;
    if !view.project.push_to_deploy {
        return Ok(Outcome::Ignored(
            "Push to deploy is off for this project.".into(),
        ));
    }
    if branch != view.project.branch {
        return Ok(Outcome::Ignored(format!(
            "A push to {branch} was ignored: the project deploys {}.",
            view.project.branch
        )));
    }
    let mut params = Params::default();
    params.merge_pairs(vec![("branch".to_owned(), branch)]);
    deployments::queue_for(app, project, owner, &params)
        .await
        .map(|deployment| Outcome::Deployed(Box::new(deployment)))
}

/// The branch a push event updated (not deleted), if the event is one.
fn pushed_branch(provider: Provider, event: &str, payload: &Value) -> Option<String> {
    match provider {
        Provider::Github | Provider::Gitlab => {
            let push = matches!(
                (provider, event),
                (Provider::Github, "push") | (Provider::Gitlab, "Push Hook")
            );
            let deleted = payload["deleted"].as_bool().unwrap_or(false)
                || payload["after"]
                    .as_str()
                    .is_some_and(|sha| sha.chars().all(|c| c == '0'));
            let branch = payload["ref"].as_str()?.strip_prefix("refs/heads/")?;
            (push && !deleted).then(|| branch.to_owned())
        }
        Provider::Bitbucket => {
            if event != "repo:push" {
                return None;
            }
            payload["push"]["changes"]
                .as_array()?
                .iter()
                .filter_map(|change| {
                    let new = &change["new"];
                    (new["type"] == "branch").then(|| new["name"].as_str().map(str::to_owned))?
                })
                .next()
        }
    }
}
