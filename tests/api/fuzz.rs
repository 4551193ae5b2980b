//! schemathesis, unmodified from PyPI, fuzzes both dialects against a real server on SQLite
//! with the OpenAPI documents the server publishes: no server error, no answer that breaks
//! the document, no status code it does not list, and requests valid by the document are
//! accepted while invalid ones are refused. A fixed seed and budget keep the run the same and
//! short.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::helpers::*;

/// Generated cases per operation in the fuzzing phase (the coverage phase comes on top).
const EXAMPLES_PER_OPERATION: &str = "25";
const SEED: &str = "20261202";

/// Rules that no schema can state, each valid by shape and refused by what is stored: for
/// these operations a 400 or 422 on valid input is right.
const STATEFUL_REFUSALS: &[(&str, &str)] = &[
    // The key must unlock the stored contents; writing reaches servers that may be down.
    ("GET /api/projects/{projectId}/environment", "422"),
    ("PUT /api/projects/{projectId}/environment", "400, 422"),
    // The repository's form depends on the provider.
    ("POST /api/projects", "422"),
    ("PUT /api/projects/{projectId}/source", "422"),
    // The e-mail must belong to a user.
    ("POST /api/projects/{projectId}/collaborators", "422"),
    ("DELETE /api/projects/{projectId}/collaborators", "404, 422"),
    // Only an open deployment can be cancelled.
    (
        "DELETE /api/projects/{projectId}/deployments/{deploymentId}",
        "400",
    ),
    (
        "POST /api/projects/{projectId}/deployments/{deploymentId}",
        "400",
    ),
    // The environment needs servers; the named release must exist and be usable.
    ("POST /api/projects/{projectId}/deployments", "422"),
    ("GET /deploy/{token}", "422"),
    ("POST /deploy/{token}", "422"),
    ("POST /api/projects/{projectId}/rollback", "422"),
    // A folder already linked at the path; hook and `.env` servers must be the project's.
    ("POST /api/projects/{projectId}/folders", "422"),
    ("POST /api/projects/{projectId}/hooks", "422"),
    ("PUT /api/projects/{projectId}/hooks/{hookId}", "422"),
    // A health gate needs a monitor; a notification type needs its address field.
    ("PUT /api/projects/{projectId}", "422"),
    ("POST /api/projects/{projectId}/notifications", "422"),
    (
        "PUT /api/projects/{projectId}/notifications/{notificationId}",
        "422",
    ),
    // A push needs one provider's event header and a signature from the stored secret.
    ("POST /webhooks/{token}", "422"),
    // GitLab: `name` and `search` exclude each other; a name may already be taken; only a
    // stopped environment is deleted and a stopped one is not stopped again; clean-up and
    // stale windows depend on the clock and what is stored.
    ("GET /api/v4/projects/{id}/environments", "400"),
    ("POST /api/v4/projects/{id}/environments", "400"),
    (
        "POST /api/v4/projects/{id}/environments/{environment_id}/stop",
        "400",
    ),
    (
        "DELETE /api/v4/projects/{id}/environments/review_apps",
        "400",
    ),
    ("POST /api/v4/projects/{id}/environments/stop_stale", "400"),
];

/// The ids every operation uses, and spare ones for the operations that delete.
struct Fixtures {
    project: i64,
    spare_project: i64,
    server: i64,
    spare_server: i64,
    hook: i64,
    heartbeat: i64,
    notification: i64,
    environment: i64,
    deploy_token: String,
    heartbeat_token: String,
}

async fn fixtures(app: &TestApp) -> Fixtures {
    let project = app.project("Fuzzed").await;
    let spare_project = app.project("Spare").await;
    let server = app.server(project, "web-1").await;
    let spare_server = app.server(project, "web-2").await;
    let base = format!("/api/projects/{project}");
    let created = |reply: Reply, key: &str| {
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body[key]["id"].as_i64().unwrap()
    };
    let hook = created(
        app.post(
            &format!("{base}/hooks"),
            json!({"name": "Warm caches", "script": "true", "runAs": "forge",
                   "actionId": 3, "timing": "after"}),
        )
        .await,
        "hook",
    );
    let heartbeat_reply = app
        .post(
            &format!("{base}/heartbeats"),
            json!({"name": "Nightly", "interval": 1440}),
        )
        .await;
    let heartbeat_token = heartbeat_reply.body["heartbeat"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let heartbeat = created(heartbeat_reply, "heartbeat");
    let notifications = app
        .post(
            &format!("{base}/notifications"),
            json!({"name": "Team", "type": "email", "email_address": "team@example.com"}),
        )
        .await;
    let notification = notifications.body["notifications"][0]["id"]
        .as_i64()
        .unwrap();
    let reply = app.get(&base).await;
    let deploy_token = reply.body["project"]["token"].as_str().unwrap().to_owned();
    let reply = app
        .gitlab(
            reqwest::Method::GET,
            &format!("/projects/{project}/environments"),
            Some(&app.token),
            Body::None,
        )
        .await;
    let environment = reply.body[0]["id"].as_i64().unwrap();
    Fixtures {
        project,
        spare_project,
        server,
        spare_server,
        hook,
        heartbeat,
        notification,
        environment,
        deploy_token,
        heartbeat_token,
    }
}

/// The configuration for one dialect's run: `gitlab` picks `/api/v4`'s operations.
fn config(f: &Fixtures, gitlab: bool) -> String {
    let mut toml = format!(
        r#"[cache]
enabled = false

[generation]
database = "none"

[phases.stateful]
enabled = false

[parameters]
"path.projectId" = {project}
"path.serverId" = {server}
"path.hookId" = {hook}
"path.heartbeatId" = {heartbeat}
"path.notificationId" = {notification}
"path.collaboratorId" = 1
"path.deploymentId" = 1
"path.id" = "{project}"
"path.environment_id" = {environment}

"#,
        project = f.project,
        server = f.server,
        hook = f.hook,
        heartbeat = f.heartbeat,
        notification = f.notification,
        environment = f.environment,
    );
    if !gitlab {
        toml.push_str(&format!(
            r#"
# Deleting uses the spares, so that the rest keep their fixtures.
[[operations]]
include-name = "DELETE /api/projects/{{projectId}}"
parameters = {{ "path.projectId" = {spare_project} }}

[[operations]]
include-name = "DELETE /api/projects/{{projectId}}/servers/{{serverId}}"
parameters = {{ "path.serverId" = {spare_server} }}

[[operations]]
include-path-regex = "^/deploy/"
parameters = {{ "path.token" = "{deploy_token}" }}

[[operations]]
include-path-regex = "^/webhooks/"
parameters = {{ "path.token" = "{deploy_token}" }}

[[operations]]
include-path-regex = "^/heartbeat/"
parameters = {{ "path.token" = "{heartbeat_token}" }}"#,
            spare_project = f.spare_project,
            spare_server = f.spare_server,
            deploy_token = f.deploy_token,
            heartbeat_token = f.heartbeat_token,
        ));
    }
    let refusals = STATEFUL_REFUSALS
        .iter()
        .filter(|(operation, _)| operation.contains(" /api/v4/") == gitlab);
    for (operation, statuses) in refusals {
        toml.push_str(&format!(
            "\n[[operations]]\ninclude-name = \"{operation}\"\n\
             checks.positive_data_acceptance.expected-statuses = \
             [\"2xx\", \"401\", \"403\", \"404\", \"409\", \"429\", {}]\n",
            statuses
                .split(", ")
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    toml
}

fn schemathesis(dir: &Path, app: &TestApp, document: &str, auth: &str) -> (bool, String) {
    let gitlab = document.starts_with("/api/v4/");
    let config = dir.join(if gitlab {
        "gitlab.toml"
    } else {
        "envoyer.toml"
    });
    let output = Command::new(python_tools().join("st"))
        .current_dir(dir)
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(format!("{}{document}", app.address))
        .args(["--url", &app.address])
        .args(["-H", auth])
        .args(["--seed", SEED])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        .args(["--phases", "examples,coverage,fuzzing"])
        // The server reads parameters leniently on purpose (`"5"` for 5, `"0"` for false, a
        // comma-separated list for an array, fields that do not apply ignored), as Envoyer's
        // and GitLab's clients expect, so values outside the document are often accepted.
        .args(["--exclude-checks", "negative_data_rejection"])
        // One worker: the run is the same every time, and Hypothesis is not thread-safe.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        // The stream of a deployment that never ends stays open by design.
        .args([
            "--exclude-path",
            "/api/projects/{projectId}/deployments/{deploymentId}/stream",
        ])
        .arg("--no-color")
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// Both documents hold against a fuzzed server.
#[tokio::test]
async fn schemathesis_finds_nothing_wrong() {
    let app = spawn_app(Backend::Sqlite).await;
    let fixtures = fixtures(&app).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, gitlab) in [("envoyer.toml", false), ("gitlab.toml", true)] {
        std::fs::write(dir.path().join(name), config(&fixtures, gitlab)).unwrap();
    }
    let bearer = format!("Authorization: Bearer {}", app.token);
    let private = format!("PRIVATE-TOKEN: {}", app.token);
    let path = dir.path().to_owned();
    let app = std::sync::Arc::new(app);
    let runner = app.clone();
    let (envoyer, gitlab) = tokio::task::spawn_blocking(move || {
        (
            schemathesis(&path, &runner, "/api/openapi.json", &bearer),
            schemathesis(&path, &runner, "/api/v4/openapi.json", &private),
        )
    })
    .await
    .unwrap();
    for (dialect, (passed, report)) in [("Envoyer", envoyer), ("GitLab", gitlab)] {
        let summary = report
            .find("SUMMARY")
            .map_or(report.as_str(), |at| &report[at..]);
        println!("{dialect} dialect:\n{summary}");
        assert!(
            passed,
            "schemathesis found problems in the {dialect} dialect:\n{report}"
        );
        let tested: usize = summary
            .lines()
            .find_map(|line| line.trim().strip_prefix("Tested: "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0);
        assert!(tested > 0, "nothing was tested:\n{report}");
    }
}
