use serde_json::json;
use slipway::db::deployments::{self, NewDeployment, NewProcess};
use slipway::domain::deployment::{DeploymentStatus, ProcessStatus};
use slipway::domain::ids::{DeploymentId, ProjectId};
use slipway::domain::time::Timestamp;

use crate::helpers::*;

/// Records a deployment the way the engine does, finished `took` seconds after it started.
async fn record(app: &TestApp, project: i64, hash: &str, status: &str, took: i64) -> DeploymentId {
    let store = &app.app.store;
    let now = Timestamp::now();
    let id = deployments::insert(
        &mut &*store,
        ProjectId(project),
        &NewDeployment {
            user_id: Some(1),
            commit_branch: Some("main".into()),
            commit_hash: Some(hash.into()),
            commit_author: Some("Dries Vints".into()),
            commit_avatar: Some("https://www.gravatar.com/avatar/x".into()),
            commit_message: Some("Update CHANGELOG.md".into()),
            status: DeploymentStatus::Pending,
        },
        now,
    )
    .await
    .unwrap();
    let started = now.minus_seconds(took);
    let finished = (status != "running").then_some(now);
    let status = DeploymentStatus::parse(status).unwrap();
    deployments::set_status(&mut &*store, id, status, Some(started), finished, now)
        .await
        .unwrap();
    id
}

async fn list_and_get_stored_deployments(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Deployed").await;
    let server = app.server(project, "floral-moon").await;
    let path = format!("/api/projects/{project}/deployments");
    assert_eq!(app.get(&path).await.body, json!({"deployments": []}));

    let first = record(
        &app,
        project,
        "c66546e75fcbf208d2884b5ac7a3a858137753a3",
        "finished",
        37,
    )
    .await;
    let second = record(
        &app,
        project,
        "d77657f86fcbf208d2884b5ac7a3a858137753a4",
        "error",
        5,
    )
    .await;
    let started = Timestamp(1_602_240_838_000_000);
    let finished = Timestamp(1_602_240_839_500_000);
    for (sequence, (name, action)) in [("Clone New Release", 1), ("Activate New Release", 3)]
        .iter()
        .enumerate()
    {
        let process = deployments::insert_process(
            &mut &app.app.store,
            first,
            ProjectId(project),
            &NewProcess {
                server_id: Some(server),
                server_name: Some("floral-moon".into()),
                sequence: sequence as i64 + 1,
                name: name.to_string(),
                action_id: Some(*action),
                hook_id: None,
                status: ProcessStatus::Finished,
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
        let now = Timestamp::now();
        deployments::set_process_status(
            &mut &app.app.store,
            process,
            ProcessStatus::Finished,
            Some(started),
            Some(finished),
            now,
        )
        .await
        .unwrap();
    }

    let list = app.get(&path).await;
    assert_eq!(list.status, 200);
    let ids: Vec<i64> = list.body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second.0, first.0], "newest first");
    assert_shape(&list.body["deployments"][0], &example("deployment"));
    assert_eq!(list.body["deployments"][1]["status"], "finished");

    let detail = app.get(&format!("{path}/{}", first.0)).await;
    assert_eq!(detail.status, 200, "{detail:?}");
    let deployment = &detail.body["deployment"];
    assert_shape(deployment, &example("deployment_detail"));
    assert_eq!(
        deployment["commit_hash"],
        "c66546e75fcbf208d2884b5ac7a3a858137753a3"
    );
    let processes = deployment["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 2);
    assert_eq!(processes[0]["name"], "Clone New Release");
    assert_eq!(processes[1]["action_id"], 3);
    assert_eq!(processes[0]["server_id"], server);
    // Process times are Unix seconds, as integers.
    assert_eq!(processes[0]["started_at"], 1_602_240_838);
    assert_eq!(processes[0]["finished_at"], 1_602_240_839);
    assert_eq!(deployment["project"]["id"], project);

    // The project's summary follows its latest completed deployment.
    let summary = &app.get(&format!("/api/projects/{project}")).await.body["project"];
    assert_eq!(summary["last_deployment_id"], second.0);
    assert_eq!(summary["last_deployment_status"], "error");
    assert_eq!(summary["last_deployment_hash"], "d77657f");
    assert_eq!(summary["last_deployment_took"], 5);
    assert_eq!(summary["last_deployed_branch"], "main");
    assert_eq!(summary["daily_deploys"], 2);
    assert_eq!(summary["weekly_deploys"], 2);
    assert_eq!(summary["status"], serde_json::Value::Null);
    assert!(summary["deployment_finished_at"].is_string());
    assert_eq!(summary["last_deployment_timestamp"], "0 seconds ago");

    record(
        &app,
        project,
        "e88768a97fcbf208d2884b5ac7a3a858137753a5",
        "running",
        2,
    )
    .await;
    let summary = &app.get(&format!("/api/projects/{project}")).await.body["project"];
    assert_eq!(summary["status"], "running");
    assert!(summary["deployment_started_at"].is_string());
    assert_eq!(summary["last_deployment_id"], second.0);
}

async fn unknown_or_foreign_deployments_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Mine").await;
    let other = app.project("Other").await;
    let theirs = record(&app, other, "abc", "finished", 1).await;
    assert_not_found(
        &app.get(&format!("/api/projects/{project}/deployments/{}", theirs.0))
            .await,
    );
    assert_not_found(
        &app.get(&format!("/api/projects/{project}/deployments/999"))
            .await,
    );
    assert_not_found(
        &app.get(&format!("/api/projects/{project}/deployments/x"))
            .await,
    );
}

on_both_databases!(
    list_and_get_stored_deployments,
    unknown_or_foreign_deployments_are_404
);
