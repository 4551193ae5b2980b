//! Health checks of a project's monitor URL against a local HTTP server that succeeds, fails
//! and times out; per-region statuses; notifications of transitions; the check after a
//! deployment.

use serde_json::{Value, json};
use slipway::domain::ids::ProjectId;
use slipway::services::health;

use crate::fleet::Fleet;
use crate::helpers::*;
use crate::receivers::{Answer, HttpReceiver};

async fn project_json(app: &TestApp, project: i64) -> Value {
    app.get(&format!("/api/projects/{project}")).await.body["project"].clone()
}

async fn monitor_checks_and_their_transitions(backend: Backend) {
    // One-second timeout, so that the hanging answer below fails quickly.
    let app = spawn_app_with_flags(backend, 0, &["--health-check-timeout", "1"]).await;
    let site = HttpReceiver::start().await;
    let chat = HttpReceiver::start().await;
    let project = app.project("Watched").await;
    let reply = app
        .put(
            &format!("/api/projects/{project}"),
            json!({"monitor": format!("{}/up", site.url)}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    app.post(
        &format!("/api/projects/{project}/notifications"),
        json!({"name": "Chat", "type": "slack", "slack_webhook": format!("{}/chat", chat.url)}),
    )
    .await;
    let shown = project_json(&app, project).await;
    assert_eq!(shown["new_york_status"], Value::Null, "not checked yet");
    assert_eq!(shown["health_checks"], json!([]));

    // Healthy: recorded, nothing to announce.
    health::check_all(&app.app).await.unwrap();
    let request = site.next().await;
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/up")
    );
    let shown = project_json(&app, project).await;
    for region in ["new_york_status", "london_status", "singapore_status"] {
        assert_eq!(shown[region], "healthy", "{region}: {shown}");
    }
    assert_eq!(shown["has_monitoring_error"], false);
    let check = &shown["health_checks"][0];
    assert_eq!(check["region"], "local");
    assert_eq!(check["status"], "healthy");
    assert_eq!(check["http_status"], 200);
    assert!(check["response_time"].is_i64());
    assert!(check["checked_at"].is_string());
    assert_eq!(shown["health_checks"].as_array().unwrap().len(), 1);

    // A 500 fails: announced once, however often it fails.
    site.answer(&[Answer::Status(500), Answer::Status(500)]);
    let id = ProjectId(project);
    health::check_project(&app.app, id).await.unwrap();
    let shown = project_json(&app, project).await;
    assert_eq!(shown["new_york_status"], "failing");
    assert_eq!(shown["has_monitoring_error"], true);
    assert_eq!(shown["health_checks"][0]["http_status"], 500);
    let message = chat.next().await;
    assert_eq!(message.body["text"], "Health check failing: Watched");
    let fields = message.body["blocks"][1]["fields"].to_string();
    assert!(fields.contains("answered 500"), "{fields}");
    health::check_project(&app.app, id).await.unwrap();

    // No answer within the timeout fails too (still no second message).
    site.answer(&[Answer::Hang]);
    health::check_project(&app.app, id).await.unwrap();
    let shown = project_json(&app, project).await;
    assert_eq!(shown["health_checks"][0]["status"], "failing");
    assert_eq!(shown["health_checks"][0]["http_status"], Value::Null);
    let error = shown["health_checks"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("timed out"), "{error}");

    // Healthy again: announced once.
    health::check_project(&app.app, id).await.unwrap();
    assert_eq!(
        project_json(&app, project).await["has_monitoring_error"],
        false
    );
    let message = chat.next().await;
    assert_eq!(message.body["text"], "Health check recovered: Watched");
    assert_eq!(
        count_rows(&app, "outbox", "event = 'health_check_failing'").await,
        1
    );
    assert_eq!(
        count_rows(&app, "outbox", "event = 'health_check_recovered'").await,
        1
    );

    // A redirect into a private network is not followed.
    site.answer(&[Answer::Redirect("http://10.0.0.1/admin")]);
    health::check_project(&app.app, id).await.unwrap();
    let shown = project_json(&app, project).await;
    let error = shown["health_checks"][0]["error"].as_str().unwrap();
    assert!(error.contains("not allowed"), "{error}");

    // A new monitor URL starts from scratch.
    app.put(
        &format!("/api/projects/{project}"),
        json!({"monitor": format!("{}/other", site.url)}),
    )
    .await;
    assert_eq!(
        project_json(&app, project).await["health_checks"],
        json!([])
    );
}

/// Each documented region shows its own node's check when there is one, else the latest; a
/// region whose node stopped checking is forgotten.
async fn regions_prefer_their_own_node(backend: Backend) {
    let app = spawn_app_with_flags(backend, 0, &["--region", "london"]).await;
    let site = HttpReceiver::start().await;
    let project = app.project("Regional").await;
    app.put(
        &format!("/api/projects/{project}"),
        json!({"monitor": format!("{}/", site.url)}),
    )
    .await;
    // An older failing check from a New York node, and one from a Sydney node that has not
    // checked for an hour.
    let now = slipway::domain::time::Timestamp::now();
    for (region, checked_at) in [
        ("new_york", now.minus_seconds(30)),
        ("sydney", now.minus_seconds(3600)),
    ] {
        execute_sql(
            &app,
            &format!(
                "INSERT INTO health_checks (project_id, region, status, http_status, \
                 response_ms, checked_at) VALUES ({project}, '{region}', 'failing', 503, 12, {})",
                checked_at.micros()
            ),
        )
        .await;
    }
    health::check_project(&app.app, ProjectId(project))
        .await
        .unwrap();
    let shown = project_json(&app, project).await;
    assert_eq!(shown["london_status"], "healthy");
    assert_eq!(shown["new_york_status"], "failing");
    assert_eq!(shown["singapore_status"], "healthy", "the latest check");
    assert_eq!(shown["has_monitoring_error"], true, "a region is failing");
    let regions: Vec<&str> = shown["health_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["london", "new_york"]);
}

/// Deployments announce their end with their commit (and, failing, why), and the monitor is
/// checked right after each.
async fn a_deployment_notifies_and_checks_the_monitor(backend: Backend) {
    let site = HttpReceiver::start().await;
    let chat = HttpReceiver::start().await;
    let fleet = Fleet::new(
        backend,
        1,
        json!({"monitor": format!("{}/health", site.url)}),
    )
    .await;
    let project = fleet.project;
    fleet
        .app
        .post(
            &format!("/api/projects/{project}/notifications"),
            json!({"name": "Chat", "type": "discord", "discord_webhook": format!("{}/d", chat.url)}),
        )
        .await;
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let id = deployment["id"].as_i64().unwrap();

    let message = chat.next().await;
    let embed = &message.body["embeds"][0];
    assert_eq!(embed["title"], "Deployment finished: Site");
    assert_eq!(
        embed["url"],
        format!("https://slipway.example.com/api/projects/{project}/deployments/{id}")
    );
    let short = &fleet.repo.head()[..7];
    assert_eq!(
        embed["fields"],
        json!([
            {"name": "Project", "value": "Site", "inline": true},
            {"name": "Commit", "value": format!("{short} (main)"), "inline": true},
            {"name": "Author", "value": "Taylor Otwell", "inline": true},
            {"name": "Status", "value": "finished", "inline": true},
        ])
    );
    let check = site.next().await;
    assert_eq!(check.path, "/health");

    // A failing deployment says so, with why.
    fleet
        .hook(json!({
            "name": "Break", "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": "echo broken >&2; exit 3",
        }))
        .await;
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    let message = chat.next().await;
    let embed = &message.body["embeds"][0];
    assert_eq!(embed["title"], "Deployment failed: Site");
    assert_eq!(embed["color"], 0xd03b3b);
    let fields = embed["fields"].as_array().unwrap();
    assert_eq!(
        fields[3],
        json!({"name": "Status", "value": "error", "inline": true})
    );
    assert_eq!(fields[4]["name"], "Detail");
    assert_eq!(fields[4]["value"], failed["error"]);
    site.next().await;
}

/// Cancelling a queued deployment announces it.
async fn a_cancelled_deployment_notifies(backend: Backend) {
    let chat = HttpReceiver::start().await;
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let project = fleet.project;
    fleet
        .app
        .post(
            &format!("/api/projects/{project}/notifications"),
            json!({"name": "Chat", "type": "teams", "teams_webhook": format!("{}/t", chat.url)}),
        )
        .await;
    // The first deployment waits in a hook, so the second stays queued.
    let gate = fleet.add_gate().await;
    let first = fleet.start(json!({})).await;
    fleet.wait_for_process(first, "Gate", "running").await;
    let second = fleet.start(json!({})).await;
    let reply = fleet
        .app
        .delete(
            &format!("/api/projects/{project}/deployments/{second}"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let message = chat.next().await;
    let card = &message.body["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Deployment cancelled: Site");
    assert_eq!(
        card["actions"][0]["url"],
        format!("https://slipway.example.com/api/projects/{project}/deployments/{second}")
    );
    gate.open();
    let finished = fleet.wait(first).await;
    assert_eq!(finished["status"], "finished", "{finished}");
    let message = chat.next().await;
    assert_eq!(
        message.body["attachments"][0]["content"]["body"][0]["text"],
        "Deployment finished: Site"
    );
}

on_both_databases!(
    monitor_checks_and_their_transitions,
    regions_prefer_their_own_node,
    a_deployment_notifies_and_checks_the_monitor,
    a_cancelled_deployment_notifies,
);
