//! Deployment environments: every project has `production`; servers belong to one and each
//! deployment targets one.

use crate::app::App;
use crate::db::{self, environments::Environment, environments::EnvironmentFields};
use crate::domain::environment::{guess_tier, slug};
use crate::domain::ids::ProjectId;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

/// The environment named `name`, created (as GitLab CI does on a first deployment) when the
/// project does not have it yet.
pub(crate) async fn ensure(app: &App, project: ProjectId, name: &str) -> Result<Environment> {
    if let Some(environment) = db::environments::get_by_name(&mut &app.store, project, name).await?
    {
        return Ok(environment);
    }
    let fields = EnvironmentFields {
        external_url: None,
        tier: guess_tier(name).to_owned(),
        description: None,
        auto_stop_setting: "always".to_owned(),
        on_stop: None,
    };
    // A concurrent request may create it first; either way it exists afterwards.
    db::environments::insert(
        &mut &app.store,
        project,
        name,
        &slug(name),
        &fields,
        Timestamp::now(),
    )
    .await?;
    db::environments::get_by_name(&mut &app.store, project, name)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("environment {name} vanished")))
}
