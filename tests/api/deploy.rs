//! Deployments end to end: real git repositories, real OpenSSH servers on loopback.

use serde_json::json;

use crate::fleet::{Fleet, shared_dir};
use crate::helpers::*;
use crate::sshd::HOOK_USER;

async fn first_and_second_deployments(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let first = fleet.deploy(json!({})).await;
    assert_eq!(first["status"], "finished", "{first}");
    let sha1 = fleet.repo.head();
    assert_eq!(first["commit_hash"], sha1);
    assert_eq!(first["commit_branch"], "main");
    assert_eq!(first["commit_author"], "Taylor Otwell");
    assert_eq!(first["commit_message"], "Initial commit");
    assert!(
        first["commit_avatar"]
            .as_str()
            .unwrap()
            .starts_with("https://www.gravatar.com/avatar/")
    );
    let release1 = first["release"].as_str().unwrap().to_owned();
    assert_eq!(release1.len(), 14);
    let processes = first["processes"].as_array().unwrap();
    let steps: Vec<&str> = processes
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "Clone New Release",
            "Clone New Release",
            "Activate New Release",
            "Activate New Release",
            "Purge Old Releases",
            "Purge Old Releases"
        ]
    );
    for process in processes {
        assert_eq!(process["status"], "finished", "{process}");
        assert!(process["started_at"].is_i64() && process["finished_at"].is_i64());
    }

    for server in 0..2 {
        let base = fleet.path(server);
        let release = base.join("releases").join(&release1);
        assert_eq!(fleet.current(server).as_deref(), Some(release1.as_str()));
        assert_eq!(
            std::fs::read_to_string(release.join("public/index.html")).unwrap(),
            "<h1>one</h1>\n"
        );
        assert_eq!(
            std::fs::read_to_string(release.join("REVISION"))
                .unwrap()
                .trim(),
            sha1
        );
        assert!(!release.join(".git").exists());
        assert_eq!(
            std::fs::read_link(release.join(".env")).unwrap(),
            base.join(".env")
        );
        assert_eq!(
            std::fs::read_link(release.join("storage")).unwrap(),
            base.join("storage")
        );
        assert!(base.join("storage/framework/views").is_dir());
    }

    let sha2 = fleet.repo.commit(
        &[("public/index.html", "<h1>two</h1>\n")],
        "Second",
        "Dries Vints",
        "dries@example.com",
    );
    let second = fleet.deploy(json!({})).await;
    assert_eq!(second["status"], "finished", "{second}");
    assert_eq!(second["commit_hash"], sha2);
    let release2 = second["release"].as_str().unwrap().to_owned();
    assert!(release2 > release1);
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(release2.as_str()));
        assert_eq!(
            fleet.releases(server),
            [release1.clone(), release2.clone()],
            "the old release is kept"
        );
        let live = fleet.path(server).join("current/public/index.html");
        assert_eq!(std::fs::read_to_string(live).unwrap(), "<h1>two</h1>\n");
    }

    let project = &fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await
        .body["project"];
    assert_eq!(project["last_deployment_status"], "finished");
    assert_eq!(project["last_deployment_hash"], &sha2[..7]);
    assert_eq!(project["last_deployment_author"], "Dries Vints");
    assert_eq!(project["daily_deploys"], 2);
    assert_eq!(project["status"], serde_json::Value::Null);
    // The first connection pinned each server's host key.
    for server in project["servers"].as_array().unwrap() {
        assert!(
            server["host_key_fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("SHA256:")
        );
    }
    let output = fleet
        .app
        .get(&format!(
            "/api/projects/{}/deployments/{}/output",
            fleet.project, second["id"]
        ))
        .await;
    assert_eq!(output.body["processes"].as_array().unwrap().len(), 6);
}

async fn hooks_get_their_variables_and_user(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({"name": "Hooked"})).await;
    let second = fleet.add_server("server-2", json!({})).await;
    let traces = shared_dir(fleet.root(), "traces");
    let pwned = traces.join("pwned");
    let sha = fleet.repo.commit(
        &[("public/index.html", "hooked\n")],
        &format!(
            "$(touch {}) `touch {}` it's",
            pwned.display(),
            pwned.display()
        ),
        "Eve",
        "eve@example.com",
    );
    fleet
        .hook(json!({
            "name": "Record", "runAs": HOOK_USER, "actionId": 3, "timing": "before",
            "servers": [second],
            "script": format!(
                "printf '%s\\n' \"{{{{ release }}}}\" \"{{{{sha}}}}\" \"{{{{ message }}}}\" \"{{{{ author }}}}\" \
                 \"{{{{ branch }}}}\" \"{{{{ name }}}}\" \"{{{{ time }}}}\" \"{{{{ project }}}}\" \"$(whoami)\" \
                 > {}/out\ntest -f {{{{ release }}}}/public/index.html",
                traces.display()
            ),
        }))
        .await;
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let release = deployment["release"].as_str().unwrap();
    let out = std::fs::read_to_string(traces.join("out")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let base = fleet.path(1).display().to_string();
    assert_eq!(lines[0], format!("{base}/releases/{release}"));
    assert_eq!(lines[1], sha);
    assert!(
        lines[2].starts_with("$(touch ") && lines[2].ends_with("it's"),
        "{}",
        lines[2]
    );
    assert_eq!(
        &lines[3..],
        ["Eve", "main", "Hooked", release, base.as_str(), HOOK_USER]
    );
    assert!(!pwned.exists(), "a commit message ran as code");
    // The hook ran only on its server: one process for it.
    let hooks: Vec<_> = deployment["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "Record")
        .collect();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["server_id"], second);
    assert!(hooks[0]["hook_id"].is_i64());
}

async fn a_hook_failing_on_one_server_stops_everything_before_activation(backend: Backend) {
    let fleet = Fleet::new(backend, 3, json!({})).await;
    let good = fleet.deploy(json!({})).await;
    assert_eq!(good["status"], "finished");
    let live = good["release"].as_str().unwrap().to_owned();

    fleet.repo.commit(
        &[("public/index.html", "broken\n")],
        "Break it",
        "Eve",
        "eve@example.com",
    );
    fleet
        .hook(json!({
            "name": "Check", "runAs": "slipway-deploy", "actionId": 3, "timing": "before",
            "script": "echo checking; test \"$(basename {{ project }})\" != server-2",
        }))
        .await;
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("server-2"),
        "{failed}"
    );
    let new_release = failed["release"].as_str().unwrap();
    for server in 0..3 {
        assert_eq!(
            fleet.current(server).as_deref(),
            Some(live.as_str()),
            "server {server} was switched"
        );
        assert_eq!(
            fleet.releases(server),
            std::slice::from_ref(&live),
            "the new release was left on server {server}"
        );
        assert!(
            !fleet
                .path(server)
                .join("releases")
                .join(new_release)
                .exists()
        );
    }
    let processes = failed["processes"].as_array().unwrap();
    let check: Vec<&str> = processes
        .iter()
        .filter(|p| p["name"] == "Check")
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(check.iter().filter(|s| **s == "error").count(), 1);
    assert_eq!(check.iter().filter(|s| **s == "finished").count(), 2);
    let activate: Vec<&str> = processes
        .iter()
        .filter(|p| p["name"] == "Activate New Release")
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(activate, ["skipped", "skipped", "skipped"]);
    let project = &fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await
        .body["project"];
    assert_eq!(project["last_deployment_status"], "error");
}

async fn branches_tags_and_commits(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let main_sha = fleet.repo.head();
    fleet.repo.tag("v1.0");
    fleet.repo.checkout_new_branch("feature/x");
    let feature_sha = fleet.repo.commit(
        &[("public/index.html", "feature\n")],
        "Feature",
        "Eve",
        "eve@example.com",
    );

    let revision = |fleet: &Fleet| {
        std::fs::read_to_string(fleet.path(0).join("current/REVISION"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let by_branch = fleet
        .deploy(json!({"from": "branch", "branch": "feature/x"}))
        .await;
    assert_eq!(
        (
            by_branch["status"].as_str(),
            by_branch["commit_branch"].as_str()
        ),
        (Some("finished"), Some("feature/x"))
    );
    assert_eq!(revision(&fleet), feature_sha);
    let by_tag = fleet.deploy(json!({"from": "tag", "tag": "v1.0"})).await;
    assert_eq!(by_tag["status"], "finished", "{by_tag}");
    assert_eq!(revision(&fleet), main_sha);
    let by_sha = fleet.deploy(json!({"sha": &feature_sha[..10]})).await;
    assert_eq!(by_sha["commit_hash"], feature_sha);
    assert_eq!(revision(&fleet), feature_sha);

    let missing = fleet
        .deploy(json!({"from": "branch", "branch": "nope"}))
        .await;
    assert_eq!(missing["status"], "error");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("no branch named nope"),
        "{missing}"
    );
    assert_eq!(revision(&fleet), feature_sha);

    // Names a shell could read as code never get as far as a deployment.
    let before = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    for body in [
        json!({"from": "branch", "branch": "main;touch /tmp/pwned"}),
        json!({"from": "tag", "tag": "$(reboot)"}),
        json!({"from": "tag"}),
        json!({"from": "somewhere"}),
        json!({"sha": "not-a-hash"}),
    ] {
        let reply = fleet
            .request(reqwest::Method::POST, "/deployments", body.clone())
            .await;
        assert_eq!(reply.status, 422, "{body}: {reply:?}");
    }
    let after = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    assert_eq!(before.body, after.body);
}

async fn cancel_stops_a_long_hook_and_removes_the_release(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let live = fleet.deploy(json!({})).await["release"]
        .as_str()
        .unwrap()
        .to_owned();
    let marker = format!(
        "sleep {}",
        600 + fleet.project * 7 + backend_number(backend)
    );
    fleet
        .hook(json!({"name": "Slow", "runAs": "slipway-deploy", "actionId": 1, "timing": "after", "script": marker}))
        .await;
    let id = fleet.start(json!({})).await;
    wait_for_process(&fleet, id, "Slow", "running").await;
    let reply = fleet
        .request(
            reqwest::Method::DELETE,
            &format!("/deployments/{id}"),
            json!({}),
        )
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, ""));
    let cancelled = fleet.wait(id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    for server in 0..2 {
        assert_eq!(fleet.current(server).as_deref(), Some(live.as_str()));
        assert_eq!(fleet.releases(server), std::slice::from_ref(&live));
    }
    // The hook's own process, not the shells around it whose command lines quote it.
    let still_running = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{marker}$")])
        .output()
        .unwrap();
    assert!(
        still_running.stdout.is_empty(),
        "the remote hook was not stopped"
    );
    let statuses: Vec<&str> = cancelled["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"cancelled"), "{statuses:?}");
    // An ended deployment cannot be cancelled again.
    let again = fleet
        .request(
            reqwest::Method::POST,
            &format!("/deployments/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 400);
}

/// Distinguishes the two runs of a test (one per database) in remote process names.
fn backend_number(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 1,
    }
}

/// Follows the deployment until a process named `name` has `status`.
async fn wait_for_process(fleet: &Fleet, deployment: i64, name: &str, status: &str) {
    let url = format!(
        "{}/api/projects/{}/deployments/{deployment}/stream",
        fleet.app.address, fleet.project
    );
    let follow = async {
        let mut response = fleet
            .app
            .client
            .get(url)
            .bearer_auth(&fleet.app.token)
            .send()
            .await
            .unwrap();
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            let processes = fleet
                .app
                .get(&format!(
                    "/api/projects/{}/deployments/{deployment}",
                    fleet.project
                ))
                .await;
            let found = processes.body["deployment"]["processes"]
                .as_array()
                .is_some_and(|list| {
                    list.iter()
                        .any(|p| p["name"] == name && p["status"] == status)
                });
            if found {
                return;
            }
        }
        panic!("the deployment ended before {name} was {status}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), follow)
        .await
        .expect("the process starts");
}

async fn a_second_request_waits_and_a_third_replaces_it(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let gate = shared_dir(fleet.root(), "gate");
    fleet
        .hook(json!({
            "name": "Gate", "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": format!("while [ ! -f {0}/open-$(basename {{{{ release }}}}) ] && [ ! -f {0}/open-all ]; do sleep 0.05; done", gate.display()),
        }))
        .await;
    let first = fleet.start(json!({})).await;
    wait_for_process(&fleet, first, "Gate", "running").await;
    fleet.repo.tag("v2");
    let second = fleet
        .start(json!({"from": "branch", "branch": "main"}))
        .await;
    let third = fleet.start(json!({"from": "tag", "tag": "v2"})).await;
    assert_eq!(second, third, "a newer request replaces the waiting one");
    let list = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    let statuses: Vec<&str> = list.body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "running"]);
    let project = fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await;
    assert_eq!(project.body["project"]["status"], "running");
    assert_eq!(project.body["project"]["should_deploy_again"], 1);

    std::fs::write(gate.join("open-all"), "").unwrap();
    assert_eq!(fleet.wait(first).await["status"], "finished");
    let queued = fleet.wait(third).await;
    assert_eq!(queued["status"], "finished", "{queued}");
    assert_eq!(queued["commit_branch"], "v2");
    let list = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    assert_eq!(list.body["deployments"].as_array().unwrap().len(), 2);
}

on_both_databases!(
    branches_tags_and_commits,
    cancel_stops_a_long_hook_and_removes_the_release,
    a_second_request_waits_and_a_third_replaces_it,
    first_and_second_deployments,
    hooks_get_their_variables_and_user,
    a_hook_failing_on_one_server_stops_everything_before_activation,
);
