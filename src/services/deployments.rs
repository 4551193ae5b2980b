//! Deployment records. (Running them arrives with the deployment engine.)

use crate::app::App;
use crate::db::{self, deployments::Deployment, deployments::Process};
use crate::domain::ids::{DeploymentId, ProjectId};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::projects::{self, ProjectView};

pub struct DeploymentView {
    pub deployment: Deployment,
    pub processes: Vec<Process>,
    pub project: ProjectView,
}

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<Deployment>> {
    access::project(app, who, project).await?;
    db::deployments::list(&mut &app.store, project).await
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: DeploymentId,
) -> Result<DeploymentView> {
    access::project(app, who, project).await?;
    let deployment = db::deployments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    let processes = db::deployments::processes(&mut &app.store, id).await?;
    let project = projects::load(app, project).await?;
    Ok(DeploymentView {
        deployment,
        processes,
        project,
    })
}
