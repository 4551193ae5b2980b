//! Releases as records, rollbacks and the health gate, on real sshd servers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fleet::{Fleet, assert_stopped, serve_site, shared_dir, step_names};
use crate::helpers::*;
use crate::receivers::HttpReceiver;

fn page(fleet: &Fleet, server: usize) -> String {
    std::fs::read_to_string(fleet.path(server).join("current/public/index.html")).unwrap()
}

/// Waits until a chat message contains `text`; answers that message's text.
async fn message_saying(receiver: &HttpReceiver, text: &str) -> String {
    loop {
        let body = receiver.next().await.body.to_string();
        if body.contains(text) {
            return body;
        }
    }
}

async fn rollbacks_go_back_at_once_with_the_activate_hooks(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let receiver = fleet.chat().await;
    let traces = shared_dir(fleet.root(), "traces");
    let trace_file = traces.join("activated");
    fleet
        .hook(json!({
            "name": "Note", "runAs": "slipway-deploy", "actionId": 3, "timing": "after",
            "script": format!("echo \"{{{{ release }}}} {{{{ sha }}}}\" >> {}", trace_file.display()),
        }))
        .await;
    let first = fleet.deploy(json!({})).await;
    let r1 = first["release"].as_str().unwrap().to_owned();
    let sha2 = fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;
    fleet.commit_page("three");
    let third = fleet.deploy(json!({})).await;
    let r3 = third["release"].as_str().unwrap().to_owned();
    assert_eq!(third["kind"], "deploy");

    let records = fleet.release_records().await;
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [r3.as_str(), r2.as_str(), r1.as_str()]);
    assert_eq!(records[0]["state"], "live");
    assert_eq!(records[0]["live"], true);
    assert_eq!(records[0]["deployment_id"], third["id"]);
    assert_eq!(records[0]["commit_hash"], third["commit_hash"]);
    assert_eq!(records[0]["environment"], "production");
    assert!(records[0]["activated_at"].is_string());
    assert_eq!(records[1]["state"], "ready");
    assert_eq!(records[1]["live"], false);
    for server in records[0]["servers"].as_array().unwrap() {
        assert_eq!(
            (&server["present"], &server["live"]),
            (&json!(true), &json!(true))
        );
    }
    for server in records[1]["servers"].as_array().unwrap() {
        assert_eq!(
            (&server["present"], &server["live"]),
            (&json!(true), &json!(false))
        );
    }
    assert_eq!(records[1]["servers"][1]["server_name"], "server-2");

    // `{}`: the release live before the current one.
    let reply = fleet.roll_back(json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let asked = &reply.body["deployment"];
    assert_eq!(asked["kind"], "rollback");
    assert_eq!(asked["commit_hash"], sha2);
    assert_eq!(asked["commit_message"], "Page two");
    assert_eq!(asked["commit_author"], "Eve");
    assert_eq!(asked["release"], r2);
    let steps = step_names(asked);
    assert_eq!(
        steps,
        [
            "Activate New Release",
            "Activate New Release",
            "Note",
            "Note"
        ],
        "no clone, no composer, no purge"
    );
    let done = fleet.wait(asked["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "finished", "{done}");
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r2.as_str()));
        assert_eq!(page(&fleet, server), "<h1>two</h1>\n");
        assert_eq!(
            fleet.releases(server),
            [&r1, &r2, &r3].map(String::as_str),
            "nothing purged"
        );
    }
    // The hooks saw the target as their release.
    let traces = std::fs::read_to_string(&trace_file).unwrap();
    let last: Vec<&str> = traces.lines().rev().take(2).collect();
    for server in 0..2 {
        let line = format!("{}/releases/{r2} {sha2}", fleet.path(server).display());
        assert!(last.contains(&line.as_str()), "{traces}");
    }
    let records = fleet.release_records().await;
    assert_eq!(
        (&records[0]["state"], &records[1]["state"]),
        (&json!("ready"), &json!("live"))
    );
    let message = message_saying(&receiver, "Rolled back to").await;
    assert!(
        message.contains(&sha2[..7]) && message.contains(&r2),
        "{message}"
    );

    // GitLab sees the rollback as the environment's last deployment.
    let environments = fleet
        .app
        .gitlab(
            Method::GET,
            &format!("/projects/{}/environments?name=production", fleet.project),
            Some(&fleet.app.token),
            Body::None,
        )
        .await;
    let environment = environments.body[0]["id"].as_i64().unwrap();
    let shown = fleet
        .app
        .gitlab(
            Method::GET,
            &format!("/projects/{}/environments/{environment}", fleet.project),
            Some(&fleet.app.token),
            Body::None,
        )
        .await;
    assert_eq!(shown.body["last_deployment"]["sha"], sha2, "{shown:?}");
    assert_eq!(shown.body["last_deployment"]["status"], "success");

    // A named deployment: its release.
    let back = fleet.rolled_back(json!({"deployment": first["id"]})).await;
    assert_eq!(back["status"], "finished", "{back}");
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r1.as_str()));
        assert_eq!(page(&fleet, server), "<h1>one</h1>\n");
    }
    // `{}` again: the one live before, which was the rollback's target.
    let again = fleet.rolled_back(json!({})).await;
    assert_eq!(again["release"], r2);
    assert_eq!(fleet.current(1).as_deref(), Some(r2.as_str()));
    let kinds: Vec<Value> = fleet
        .request(Method::GET, "/deployments", json!({}))
        .await
        .body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "rollback", "rollback", "rollback", "deploy", "deploy", "deploy"
        ]
    );
}

async fn rollbacks_to_unusable_releases_are_refused(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    let r1 = fleet.deploy_release().await;
    let none = fleet.roll_back(json!({})).await;
    assert_invalid(&none, &["release"]);
    assert!(
        none.body["errors"]["release"][0]
            .as_str()
            .unwrap()
            .contains("no earlier release"),
        "{none:?}"
    );
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;

    // A failed deployment's release is never a target.
    let failing = fleet
        .hook(json!({"name": "Fail", "runAs": "slipway-deploy", "actionId": 3, "timing": "before", "script": "exit 3"}))
        .await;
    fleet.commit_page("three");
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    fleet
        .request(Method::DELETE, &format!("/hooks/{failing}"), json!({}))
        .await;
    let records = fleet.release_records().await;
    assert_eq!(records[0]["state"], "failed");
    assert_eq!(records[0]["servers"][0]["present"], false);
    let refused = fleet.roll_back(json!({"release": records[0]["id"]})).await;
    assert_invalid(&refused, &["release"]);
    assert!(
        refused.text.contains("its deployment failed"),
        "{refused:?}"
    );

    let live = fleet.roll_back(json!({"release": records[1]["id"]})).await;
    assert_invalid(&live, &["release"]);
    assert!(live.text.contains("already live"), "{live:?}");
    for (body, field) in [
        (json!({"release": 999_999}), "release"),
        (json!({"release": "first"}), "release"),
        (json!({"release": 1, "deployment": 1}), "release"),
        (json!({"deployment": 999_999}), "deployment"),
        (json!({"environment": "staging"}), "environment"),
        (json!({"environment": "/bad"}), "environment"),
        (
            json!({"release": records[1]["id"], "environment": "staging"}),
            "release",
        ),
    ] {
        assert_invalid(&fleet.roll_back(body).await, &[field]);
    }

    // A server added since r1 was built lacks it: refused, naming it, and nothing switched.
    fleet.add_server("late", json!({})).await;
    let before = fleet.request(Method::GET, "/deployments", json!({})).await;
    let missing = fleet.roll_back(json!({})).await;
    assert_invalid(&missing, &["release"]);
    let message = missing.body["errors"]["release"][0].as_str().unwrap();
    assert!(
        message.contains(&r1) && message.contains("late"),
        "{message}"
    );
    assert_eq!(fleet.current(0).as_deref(), Some(r2.as_str()));
    assert_eq!(fleet.current(1), None);
    let after = fleet.request(Method::GET, "/deployments", json!({})).await;
    assert_eq!(before.body, after.body, "no rollback was recorded");

    // Only a token that may deploy may roll back; other users see no project.
    let reader = fleet.app.token_for("admin@slipway.local", "").await;
    let path = format!("/api/projects/{}/rollback", fleet.project);
    let forbidden = fleet
        .app
        .request(Method::POST, &path, Some(&reader), Body::Json(json!({})))
        .await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    let stranger = fleet.app.token_for("stranger@example.com", "*").await;
    for (method, path) in [
        (Method::POST, path.clone()),
        (
            Method::GET,
            format!("/api/projects/{}/releases", fleet.project),
        ),
    ] {
        let hidden = fleet
            .app
            .request(method, &path, Some(&stranger), Body::Json(json!({})))
            .await;
        assert_eq!(hidden.status, 404, "{hidden:?}");
    }
}

async fn a_rollback_stops_the_running_deployment_and_the_waiting_one(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let r1 = fleet.deploy_release().await;
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;

    // Held before activation: the rollback cancels it and removes its release.
    let gate = fleet.add_gate().await;
    fleet.commit_page("three");
    let running = fleet.start(json!({})).await;
    fleet.wait_for_process(running, "Gate", "running").await;
    let waiting = fleet.start(json!({"branch": "main"})).await;
    let rollback = fleet.rolled_back(json!({})).await;
    assert_eq!(rollback["status"], "finished", "{rollback}");
    assert_eq!(rollback["release"], r1);
    assert_eq!(fleet.wait(running).await["status"], "cancelled");
    assert_eq!(fleet.wait(waiting).await["status"], "cancelled");
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r1.as_str()));
        assert_eq!(fleet.releases(server), [&r1, &r2].map(String::as_str));
    }
    gate.open();

    // Already switched when the rollback came: the rollback covers those servers too.
    let marker = format!(
        "sleep {}",
        900 + fleet.project * 7 + backend_number(backend)
    );
    let sha4 = fleet.commit_page("four");
    // Only for the new release: the rollback runs this hook too.
    let script = format!("if [ \"{{{{ sha }}}}\" = {sha4} ]; then {marker}; fi");
    fleet
        .hook(json!({"name": "Warm", "runAs": "slipway-deploy", "actionId": 3, "timing": "after", "script": script}))
        .await;
    let switched = fleet.start(json!({})).await;
    fleet.wait_for_process(switched, "Warm", "running").await;
    let r4 = fleet.record(switched).await["release"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fleet.current(0).as_deref(), Some(r4.as_str()));
    let back = fleet.rolled_back(json!({})).await;
    assert_eq!(
        back["release"], r1,
        "the release live before the interrupted one"
    );
    let ended = fleet.wait(switched).await;
    assert_eq!(ended["status"], "cancelled");
    assert_eq!(
        ended["error"],
        "Cancelled after activation: the new release is live on the servers."
    );
    assert_stopped(&marker);
    let records = fleet.release_records().await;
    assert_eq!(records[0]["name"], r4.as_str());
    assert_eq!(
        records[0]["state"], "failed",
        "a release whose deployment was cut off is no target"
    );
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r1.as_str()));
    }
}

async fn the_health_gate_switches_back_a_release_that_fails(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({"type": "other"})).await;
    let receiver = fleet.chat().await;
    let site = serve_site(fleet.path(0)).await;
    let path = format!("/api/projects/{}", fleet.project);
    for (body, field) in [
        (json!({"health_gate_seconds": 4}), "health_gate_seconds"),
        (json!({"health_gate_seconds": 601}), "health_gate_seconds"),
        (json!({"health_gate": "often"}), "health_gate"),
        (json!({"health_gate": true}), "health_gate"),
    ] {
        assert_invalid(&fleet.app.put(&path, body).await, &[field]);
    }
    let project = fleet
        .app
        .put(
            &path,
            json!({"monitor": site, "health_gate": true, "health_gate_seconds": 5}),
        )
        .await;
    assert_eq!(project.status, 200, "{project:?}");
    assert_eq!(project.body["project"]["health_gate"], true);
    assert_eq!(project.body["project"]["health_gate_seconds"], 5);

    let good = fleet.deploy(json!({})).await;
    assert_eq!(good["status"], "finished", "{good}");
    assert_eq!(good["rolled_back"], false);
    let r1 = good["release"].as_str().unwrap().to_owned();
    let gate = good["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Health Gate")
        .unwrap()
        .clone();
    assert_eq!(
        (&gate["status"], &gate["server_id"]),
        (&json!("finished"), &Value::Null)
    );

    fleet.commit_page("broken");
    let bad = fleet.deploy(json!({})).await;
    assert_eq!(bad["status"], "error", "{bad}");
    assert_eq!(bad["rolled_back"], true);
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("health gate failed"),
        "{bad}"
    );
    let steps: Vec<(&str, &str)> = bad["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert!(steps.contains(&("Health Gate", "error")), "{steps:?}");
    assert!(
        steps.contains(&("Purge Old Releases", "skipped")),
        "{steps:?}"
    );
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r1.as_str()));
        assert_eq!(
            fleet.releases(server),
            [&r1].map(String::as_str),
            "the failed release is gone"
        );
    }
    let records = fleet.release_records().await;
    assert_eq!(
        (&records[0]["state"], &records[0]["live"]),
        (&json!("failed"), &json!(false))
    );
    assert_eq!(
        (&records[1]["state"], &records[1]["live"]),
        (&json!("live"), &json!(true))
    );
    let output = fleet
        .request(
            Method::GET,
            &format!("/deployments/{}/output", bad["id"]),
            json!({}),
        )
        .await;
    let gate_output = output.body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Health Gate")
        .unwrap()["output"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(gate_output.contains("500"), "{gate_output}");
    message_saying(&receiver, "Deployment rolled back: health gate failed").await;

    fleet.commit_page("fixed");
    let fixed = fleet.deploy(json!({})).await;
    assert_eq!(fixed["status"], "finished", "{fixed}");
    assert_eq!(page(&fleet, 1), "<h1>fixed</h1>\n");
}

/// Retention never removes the release that was live before the current one, and a purged
/// release is no target.
async fn retention_keeps_the_release_live_before(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"retain_deployments": 1})).await;
    let r1 = fleet.deploy_release().await;
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;
    assert_eq!(fleet.releases(0), [&r1, &r2].map(String::as_str));
    fleet.commit_page("three");
    let r3 = fleet.deploy_release().await;
    assert_eq!(fleet.releases(0), [&r2, &r3].map(String::as_str));
    let records = fleet.release_records().await;
    assert_eq!(records[2]["state"], "purged");
    assert_eq!(records[2]["servers"][0]["present"], false);
    let purged = fleet.roll_back(json!({"release": records[2]["id"]})).await;
    assert_invalid(&purged, &["release"]);
    assert!(purged.text.contains("purged"), "{purged:?}");

    let back = fleet.rolled_back(json!({})).await;
    assert_eq!(back["release"], r2);
    fleet.commit_page("four");
    let r4 = fleet.deploy_release().await;
    assert_eq!(
        fleet.releases(0),
        [&r2, &r4].map(String::as_str),
        "r2 was live before r4"
    );

    // Releases Slipway has no record of (made before records were kept): the one live
    // before is still kept.
    execute_sql(&fleet.app, "DELETE FROM release_servers").await;
    execute_sql(&fleet.app, "UPDATE deployments SET release_id = NULL").await;
    execute_sql(&fleet.app, "DELETE FROM releases").await;
    fleet.commit_page("five");
    let r5 = fleet.deploy_release().await;
    assert_eq!(fleet.releases(0), [&r4, &r5].map(String::as_str));
}

/// A target whose directory went missing behind Slipway's back is not switched to anywhere.
async fn a_rollback_to_a_release_deleted_by_hand_switches_nothing(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let r1 = fleet.deploy_release().await;
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;
    std::fs::remove_dir_all(fleet.path(1).join("releases").join(&r1)).unwrap();
    let failed = fleet.rolled_back(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("is not on this server"),
        "{failed}"
    );
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r2.as_str()));
    }
    assert_eq!(fleet.release_records().await[0]["live"], true);
}

/// The gate failing on a project's first deployment leaves no `current` at all.
async fn the_health_gate_on_a_first_deployment(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    fleet.commit_page("broken");
    let site = serve_site(fleet.path(0)).await;
    let path = format!("/api/projects/{}", fleet.project);
    let gate = json!({"monitor": site, "health_gate": true, "health_gate_seconds": 5});
    assert_eq!(fleet.app.put(&path, gate).await.status, 200);
    let bad = fleet.deploy(json!({})).await;
    assert_eq!(
        (&bad["status"], &bad["rolled_back"]),
        (&json!("error"), &json!(true))
    );
    assert_eq!(fleet.current(0), None);
    assert!(fleet.releases(0).is_empty());
    // Clearing the monitor while the gate is on is refused.
    let cleared = fleet.app.put(&path, json!({"monitor": null})).await;
    assert_invalid(&cleared, &["monitor"]);
}

/// A restart while a rollback runs leaves every server on one release and nothing running.
async fn a_restart_in_the_middle_of_a_rollback(backend: Backend) {
    let mut fleet = Fleet::new(backend, 2, json!({})).await;
    let r1 = fleet.deploy_release().await;
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;

    // Before the switch was recorded, one server had already switched.
    let marker = format!(
        "sleep {}",
        1000 + fleet.project * 7 + backend_number(backend)
    );
    let hold = fleet
        .hook(json!({"name": "Hold", "runAs": "slipway-deploy", "actionId": 3, "timing": "before", "script": marker}))
        .await;
    let id = fleet.roll_back(json!({})).await.body["deployment"]["id"]
        .as_i64()
        .unwrap();
    fleet.wait_for_process(id, "Hold", "running").await;
    switch_by_hand(&fleet, 0, &r1);
    fleet.app.restart().await;
    let ended = fleet.wait(id).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(
        ended["error"].as_str().unwrap().contains("rollback"),
        "{ended}"
    );
    assert_stopped(&marker);
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r2.as_str()));
        assert_eq!(
            fleet.releases(server),
            [&r1, &r2].map(String::as_str),
            "the target was kept"
        );
    }
    fleet
        .request(Method::DELETE, &format!("/hooks/{hold}"), json!({}))
        .await;

    // After the switch was recorded: the servers stay on the target.
    let marker = format!(
        "sleep {}",
        1100 + fleet.project * 7 + backend_number(backend)
    );
    let warm = fleet
        .hook(json!({"name": "Warm", "runAs": "slipway-deploy", "actionId": 3, "timing": "after", "script": marker}))
        .await;
    let id = fleet.roll_back(json!({})).await.body["deployment"]["id"]
        .as_i64()
        .unwrap();
    fleet.wait_for_process(id, "Warm", "running").await;
    fleet.app.restart().await;
    assert_eq!(fleet.wait(id).await["status"], "error");
    assert_stopped(&marker);
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(r1.as_str()));
    }
    let records = fleet.release_records().await;
    assert_eq!(records[1]["live"], true, "{records:?}");
    fleet
        .request(Method::DELETE, &format!("/hooks/{warm}"), json!({}))
        .await;

    let project = fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await;
    assert_eq!(
        project.body["project"]["status"],
        Value::Null,
        "nothing runs"
    );
    fleet.commit_page("three");
    fleet.deploy_release().await;
}

/// Points `current` on a server at `release`, the way Slipway does (a link renamed over it).
fn switch_by_hand(fleet: &Fleet, server: usize, release: &str) {
    let base = fleet.path(server);
    let temporary = base.join(".current-by-hand");
    std::os::unix::fs::symlink(base.join("releases").join(release), &temporary).unwrap();
    std::fs::rename(&temporary, base.join("current")).unwrap();
}

on_both_databases!(
    rollbacks_go_back_at_once_with_the_activate_hooks,
    rollbacks_to_unusable_releases_are_refused,
    a_rollback_stops_the_running_deployment_and_the_waiting_one,
    the_health_gate_switches_back_a_release_that_fails,
    retention_keeps_the_release_live_before,
    a_rollback_to_a_release_deleted_by_hand_switches_nothing,
    the_health_gate_on_a_first_deployment,
    a_restart_in_the_middle_of_a_rollback,
);
