//! Stopping an environment: its on_stop script on each of its servers, recorded like a
//! deployment, then the environment is stopped.

use tokio::sync::watch;

use super::fleet::{Outcome, Processes, Run, Scripting, failures};
use super::plan::{Step, Work};
use crate::app::App;
use crate::db::{
    self, deployments::Deployment, deployments::NewProcess, projects::Project, servers::Server,
};
use crate::domain::deployment::{Ending, ProcessStatus};
use crate::domain::time::Timestamp;

pub(super) async fn run(
    app: &App,
    deployment: &Deployment,
    project: &Project,
    servers: &[Server],
    cancel: watch::Receiver<bool>,
) -> anyhow::Result<Ending> {
    let environment = db::environments::get_by_name(
        &mut &app.store,
        deployment.project_id,
        &deployment.environment,
    )
    .await?;
    let Some(environment) = environment else {
        return Ok(Ending::error("The environment no longer exists."));
    };
    let ending = match (&environment.on_stop, servers.is_empty()) {
        (Some(script), false) => {
            let step = Step {
                name: "Stop Environment".to_owned(),
                action_id: 0,
                work: Work::Teardown {
                    script: script.clone(),
                },
                servers: servers.iter().map(|s| s.id).collect(),
            };
            let mut processes: Processes = Vec::new();
            for server in servers {
                let process = db::deployments::insert_process(
                    &mut &app.store,
                    deployment.id,
                    deployment.project_id,
                    &NewProcess {
                        server_id: Some(server.id.0),
                        server_name: Some(server.name.clone()),
                        sequence: 1,
                        name: step.name.clone(),
                        action_id: None,
                        hook_id: None,
                        status: ProcessStatus::Pending,
                    },
                    Timestamp::now(),
                )
                .await?;
                processes.push((Some(server.id), process));
            }
            let timeout = super::run::step_timeout(project);
            let run = Run::new(app, deployment.id, servers, timeout, cancel, None).await?;
            let context = Scripting {
                environment_slug: environment.slug.clone(),
                time: String::new(),
                sha: String::new(),
                branch: project.branch.clone(),
                author: String::new(),
                message: String::new(),
                name: project.name.clone(),
                laravel: false,
                links: Vec::new(),
                composer_dev: false,
                composer_quiet: false,
                reuse_vendor: None,
                delta_releases: false,
                keep: Vec::new(),
            };
            let outcomes = run.run_step(&step, &processes, &context).await;
            run.close().await;
            let failures = failures(&outcomes);
            if outcomes.iter().any(|(_, o)| *o == Outcome::Cancelled) {
                Ending::cancelled()
            } else if failures.is_empty() {
                Ending::finished()
            } else {
                Ending::error(failures.join("; "))
            }
        }
        _ => Ending::finished(),
    };
    db::environments::finish_stopping(&mut &app.store, environment.id, Timestamp::now()).await?;
    Ok(ending)
}
