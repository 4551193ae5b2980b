//! Deployments end to end: real git repositories, real OpenSSH servers on loopback.

use reqwest::Method;
use serde_json::json;

use crate::fleet::{Fleet, assert_stopped, shared_dir, step_names};
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
    fleet.wait_for_process(id, "Slow", "running").await;
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
    assert_stopped(&marker);
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

/// Cancelled once the release is live: the record says so, and the release stays.
async fn a_cancel_after_activation_says_the_release_is_live(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let marker = format!(
        "sleep {}",
        700 + fleet.project * 7 + backend_number(backend)
    );
    fleet
        .hook(json!({"name": "Warm", "runAs": "slipway-deploy", "actionId": 3, "timing": "after", "script": marker}))
        .await;
    let id = fleet.start(json!({})).await;
    fleet.wait_for_process(id, "Warm", "running").await;
    let reply = fleet
        .request(
            reqwest::Method::DELETE,
            &format!("/deployments/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let cancelled = fleet.wait(id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(
        cancelled["error"],
        "Cancelled after activation: the new release is live on the servers."
    );
    let release = cancelled["release"].as_str().unwrap();
    assert_eq!(fleet.current(0).as_deref(), Some(release));
    assert_stopped(&marker);
}

async fn a_second_request_waits_and_a_third_replaces_it(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let gate = fleet.add_gate().await;
    let first = fleet.start(json!({})).await;
    fleet.wait_for_process(first, "Gate", "running").await;
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

    gate.open();
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

async fn retention_keeps_the_newest_releases(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"retain_deployments": 2})).await;
    let mut names = Vec::new();
    for round in 0..4 {
        fleet.repo.commit(
            &[("public/index.html", &format!("round {round}\n"))],
            "Next",
            "Eve",
            "eve@example.com",
        );
        let deployment = fleet.deploy(json!({})).await;
        assert_eq!(deployment["status"], "finished", "{deployment}");
        names.push(deployment["release"].as_str().unwrap().to_owned());
    }
    assert_eq!(fleet.releases(0), names[2..]);
    assert_eq!(fleet.current(0).as_deref(), Some(names[3].as_str()));
}

async fn an_unreachable_server_stops_the_deployment(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    fleet.add_server("gone", json!({"port": 1})).await;
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("gone"),
        "{failed}"
    );
    assert_eq!(
        fleet.current(0),
        None,
        "the reachable server was not activated"
    );
    assert_eq!(
        fleet.releases(0),
        Vec::<String>::new(),
        "its new release was removed"
    );
    let output = fleet
        .app
        .get(&format!(
            "/api/projects/{}/deployments/{}/output",
            fleet.project, failed["id"]
        ))
        .await;
    let clone_on_gone = output.body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["server_name"] == "gone")
        .unwrap()
        .clone();
    assert_eq!(clone_on_gone["status"], "error");
    assert!(
        clone_on_gone["output"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{clone_on_gone}"
    );
}

async fn a_restart_ends_an_interrupted_deployment(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    let marker = format!("sleep {}", 700 + backend_number(backend));
    let hook = fleet
        .hook(json!({"name": "Stuck", "runAs": "slipway-deploy", "actionId": 1, "timing": "after", "script": marker}))
        .await;
    let id = fleet.start(json!({})).await;
    fleet.wait_for_process(id, "Stuck", "running").await;

    fleet.app.restart().await;
    let ended = fleet.wait(id).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(
        ended["error"].as_str().unwrap().contains("Slipway stopped"),
        "{ended}"
    );
    assert_eq!(
        fleet.releases(0),
        Vec::<String>::new(),
        "the unactivated release was removed"
    );
    assert_stopped(&marker);

    // The queue goes on.
    fleet
        .request(
            reqwest::Method::DELETE,
            &format!("/hooks/{hook}"),
            json!({}),
        )
        .await;
    let next = fleet.deploy(json!({})).await;
    assert_eq!(next["status"], "finished", "{next}");
}

async fn the_environment_is_written_to_its_servers(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let (one, two) = (fleet.servers[0].0, fleet.servers[1].0);
    let contents = "APP_NAME=Slipway\nAPP_KEY=base64:c2VjcmV0\n";
    let reply = fleet
        .request(
            reqwest::Method::PUT,
            "/environment",
            json!({"key": "k", "contents": contents, "servers": [one, two]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["servers"].as_array().unwrap().len(), 2);
    for server in 0..2 {
        let env = fleet.path(server).join(".env");
        assert_eq!(std::fs::read_to_string(&env).unwrap(), contents);
        assert_eq!(
            std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let project = fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await;
    assert_eq!(
        project.body["project"]["environment_servers"],
        json!([one, two])
    );

    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished");
    let linked = fleet.path(0).join("current/.env");
    assert_eq!(std::fs::read_to_string(linked).unwrap(), contents);

    // An update without servers rewrites the file where it already is.
    let reply = fleet
        .request(
            reqwest::Method::PUT,
            "/environment",
            json!({"key": "k", "contents": "A=2\n"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        std::fs::read_to_string(fleet.path(1).join(".env")).unwrap(),
        "A=2\n"
    );
}

async fn refresh_checks_the_server_and_pins_its_host_key(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let server = fleet.servers[0].0;
    let refreshed = fleet
        .request(
            reqwest::Method::POST,
            &format!("/servers/{server}/refresh"),
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let s = &refreshed.body["server"];
    assert_eq!(s["connection_status"], "successful", "{s}");
    assert!(
        s["tools"].as_array().unwrap().contains(&json!("tar")),
        "{s}"
    );
    let fingerprint = s["host_key_fingerprint"].as_str().unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"));
    assert!(
        fleet.path(0).join("releases").is_dir(),
        "the check created the deployment path"
    );

    // A rebuilt server with a new host key is refused until its pin is reset.
    fleet.sshd.change_host_key();
    let refused = fleet
        .request(
            reqwest::Method::POST,
            &format!("/servers/{server}/refresh"),
            json!({}),
        )
        .await;
    assert_eq!(refused.body["server"]["connection_status"], "failed");
    assert!(
        refused.body["server"]["connection_error"]
            .as_str()
            .unwrap()
            .contains("host key"),
        "{refused:?}"
    );
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "error");
    assert!(
        deployment["error"].as_str().unwrap().contains("host key"),
        "{deployment}"
    );

    let reset = fleet
        .request(
            reqwest::Method::DELETE,
            &format!("/servers/{server}/host-key"),
            json!({}),
        )
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(reset.body["server"]["host_key"], serde_json::Value::Null);
    let again = fleet
        .request(
            reqwest::Method::POST,
            &format!("/servers/{server}/refresh"),
            json!({}),
        )
        .await;
    assert_eq!(again.body["server"]["connection_status"], "successful");
    assert_ne!(again.body["server"]["host_key_fingerprint"], fingerprint);
}

async fn linked_folders_and_hook_only_servers(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    let worker = fleet
        .add_server("worker", json!({"receivesCodeDeployments": false}))
        .await;
    fleet
        .request(
            reqwest::Method::POST,
            "/folders",
            json!({"from": "public/uploads", "to": "shared/uploads"}),
        )
        .await;
    let traces = shared_dir(fleet.root(), "traces");
    fleet
        .hook(json!({
            "name": "Announce", "runAs": "slipway-deploy", "actionId": 3, "timing": "after",
            "script": format!("basename {{{{ project }}}} >> {}/announced", traces.display()),
        }))
        .await;
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let release = fleet.path(0).join("current");
    assert_eq!(
        std::fs::read_link(release.join("public/uploads")).unwrap(),
        fleet.path(0).join("shared/uploads")
    );
    assert!(fleet.path(0).join("shared/uploads").is_dir());
    assert!(
        !release.join("storage").is_symlink(),
        "only Laravel projects share storage"
    );
    // The hook-only server got the hook and nothing else.
    assert!(!fleet.path(1).join("releases").exists());
    let announced = std::fs::read_to_string(traces.join("announced")).unwrap();
    let mut lines: Vec<&str> = announced.lines().collect();
    lines.sort();
    assert_eq!(lines, ["server-1", "worker"]);
    let on_worker: Vec<&str> = deployment["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["server_id"] == worker)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(on_worker, ["Announce"]);
}

async fn composer_installs_dependencies(backend: Backend) {
    let fleet = Fleet::new(
        backend,
        1,
        json!({"composer": true, "composer_quiet": true}),
    )
    .await;
    fleet.repo.commit(
        &[(
            "composer.json",
            "{\"name\": \"slipway/test\", \"require\": {}}\n",
        )],
        "Add composer.json",
        "Eve",
        "eve@example.com",
    );
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let steps = step_names(&deployment);
    assert_eq!(
        steps,
        [
            "Clone New Release",
            "Install Composer Dependencies",
            "Activate New Release",
            "Purge Old Releases"
        ]
    );
    assert!(fleet.path(0).join("current/vendor/autoload.php").is_file());
}

async fn a_step_that_runs_too_long_fails(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let update = fleet
        .request(reqwest::Method::PUT, "", json!({"step_timeout": 1}))
        .await;
    assert_eq!(update.body["project"]["step_timeout"], 1);
    let marker = format!("sleep {}", 800 + backend_number(backend));
    fleet.hook(json!({"name": "Slow", "runAs": "slipway-deploy", "actionId": 1, "timing": "after", "script": marker})).await;
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1 s"),
        "{failed}"
    );
    assert_eq!(fleet.releases(0), Vec::<String>::new());
    assert_stopped(&marker);
}

async fn a_failed_activation_switches_back_the_servers_that_switched(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({})).await;
    let first = fleet.deploy(json!({})).await;
    let live = first["release"].as_str().unwrap().to_owned();
    // Server 2's `current` becomes a real directory: renaming a link over it fails there.
    let current = fleet.path(1).join("current");
    std::fs::remove_file(&current).unwrap();
    std::fs::create_dir(&current).unwrap();
    std::fs::write(current.join("keep"), "").unwrap();

    fleet.repo.commit(
        &[("public/index.html", "new\n")],
        "New",
        "Eve",
        "eve@example.com",
    );
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("server-2"),
        "{failed}"
    );
    assert_eq!(
        fleet.current(0).as_deref(),
        Some(live.as_str()),
        "server 1 was switched back"
    );
    assert_eq!(fleet.releases(0), std::slice::from_ref(&live));
    let new_release = failed["release"].as_str().unwrap();
    assert!(!fleet.path(1).join("releases").join(new_release).exists());
    assert_eq!(
        std::fs::read_to_string(fleet.path(0).join("current/public/index.html")).unwrap(),
        "<h1>one</h1>\n"
    );
}

/// The switch itself worked, but the PHP-FPM reload after it failed (there is no sudo on the
/// test servers): that server must go back too, and the new release must go.
async fn a_failed_reload_after_the_switch_is_rolled_back(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    assert_eq!(fleet.deploy(json!({})).await["status"], "finished");
    let fpm = fleet.add_server("with-fpm", json!({})).await;
    // The new server gets a release to go back to before it asks for a reload.
    assert_eq!(fleet.deploy(json!({})).await["status"], "finished");
    let previous_on_fpm = fleet.current(1).unwrap();
    let update = fleet
        .request(
            reqwest::Method::PUT,
            &format!("/servers/{fpm}"),
            json!({"restartFpm": true}),
        )
        .await;
    assert_eq!(update.body["server"]["should_restart_fpm"], true);

    fleet.repo.commit(
        &[("public/index.html", "reloaded\n")],
        "Reload",
        "Eve",
        "eve@example.com",
    );
    let failed = fleet.deploy(json!({})).await;
    assert_eq!(failed["status"], "error", "{failed}");
    let new_release = failed["release"].as_str().unwrap();
    assert_eq!(
        fleet.current(1).as_deref(),
        Some(previous_on_fpm.as_str()),
        "the reloading server stayed switched"
    );
    assert_eq!(fleet.current(0).as_deref(), Some(previous_on_fpm.as_str()));
    for server in 0..2 {
        assert!(
            !fleet
                .path(server)
                .join("releases")
                .join(new_release)
                .exists(),
            "server {server} kept the new release"
        );
    }
}

/// Output is kept per process up to 1 MiB, and the event stream carries it: live while the
/// deployment runs, replayed from the records afterwards.
async fn output_is_streamed_stored_and_capped(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    fleet
        .hook(json!({
            "name": "Chatty", "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": "echo hello-from-the-hook; head -c 2000000 /dev/zero | tr '\\0' x",
        }))
        .await;
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let id = deployment["id"].as_i64().unwrap();
    let output = fleet
        .app
        .get(&format!(
            "/api/projects/{}/deployments/{id}/output",
            fleet.project
        ))
        .await;
    let chatty = output.body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Chatty")
        .unwrap()
        .clone();
    let text = chatty["output"].as_str().unwrap();
    assert!(text.starts_with("hello-from-the-hook\n"), "{}", &text[..40]);
    assert!(text.len() <= 1024 * 1024 + 64, "{} bytes kept", text.len());
    assert!(text.len() > 1024 * 1000);
    assert!(text.ends_with("[output truncated at 1 MiB]\n"));

    // Replayed after the end: the same output, then the end.
    let url = format!(
        "{}/api/projects/{}/deployments/{id}/stream",
        fleet.app.address, fleet.project
    );
    let replay = fleet
        .app
        .client
        .get(url)
        .bearer_auth(&fleet.app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(replay.contains("event: output") && replay.contains("hello-from-the-hook"));
    assert!(
        replay
            .trim_end()
            .ends_with("data: {\"event\":\"end\",\"status\":\"finished\"}"),
        "{}",
        &replay[replay.len() - 200..]
    );
}

/// Each server belongs to one environment and a deployment reaches only its environment's
/// servers; an environment without servers is refused before anything runs.
async fn deployments_reach_only_their_environment(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    let staging = fleet
        .add_server("staging-1", json!({"environment": "staging"}))
        .await;
    let server = fleet
        .request(
            reqwest::Method::GET,
            &format!("/servers/{staging}"),
            json!({}),
        )
        .await;
    assert_eq!(server.body["server"]["environment"], "staging");
    let production = fleet
        .request(
            reqwest::Method::GET,
            &format!("/servers/{}", fleet.servers[0].0),
            json!({}),
        )
        .await;
    assert_eq!(production.body["server"]["environment"], "production");

    let to_staging = fleet.deploy(json!({"environment": "staging"})).await;
    assert_eq!(to_staging["status"], "finished", "{to_staging}");
    assert_eq!(to_staging["environment"], "staging");
    assert_eq!(
        fleet.releases(0),
        Vec::<String>::new(),
        "production was deployed to"
    );
    assert_eq!(fleet.releases(1).len(), 1);

    let to_production = fleet.deploy(json!({})).await;
    assert_eq!(to_production["environment"], "production");
    assert_eq!(fleet.releases(0).len(), 1);
    assert_eq!(fleet.releases(1).len(), 1, "staging was deployed to");

    let nowhere = fleet
        .request(
            reqwest::Method::POST,
            "/deployments",
            json!({"environment": "review/x"}),
        )
        .await;
    assert_invalid(&nowhere, &["servers"]);
    let bad = fleet
        .request(
            reqwest::Method::POST,
            "/deployments",
            json!({"environment": "/bad"}),
        )
        .await;
    assert_invalid(&bad, &["environment"]);
}

/// Stopping a review app runs its on_stop script on the environment's servers (recorded like
/// a deployment), and the environment is stopped once it has run.
async fn stopping_an_environment_runs_its_teardown(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({})).await;
    fleet
        .add_server("review-box", json!({"environment": "review/fix-foo"}))
        .await;
    let traces = shared_dir(fleet.root(), "traces");
    let review = fleet.deploy(json!({"environment": "review/fix-foo"})).await;
    assert_eq!(review["status"], "finished", "{review}");

    let base = format!("/projects/{}/environments", fleet.project);
    let token = Some(fleet.app.token.as_str());
    let gitlab =
        async |method, path: String, body| fleet.app.gitlab(method, &path, token, body).await;
    let list = gitlab(
        Method::GET,
        format!("{base}?name=review%2Ffix-foo"),
        Body::None,
    )
    .await;
    let id = list.body[0]["id"].as_i64().unwrap();
    let script = format!(
        "rm -rf {{{{ project }}}}/releases\necho \"{{{{ environment }}}} {{{{ environment_slug }}}}\" > {}/stopped",
        traces.display()
    );
    let updated = gitlab(
        Method::PUT,
        format!("{base}/{id}"),
        Body::Json(json!({"on_stop": script})),
    )
    .await;
    assert_eq!(updated.status, 200, "{updated:?}");

    let stopping = gitlab(Method::POST, format!("{base}/{id}/stop"), Body::None).await;
    assert_eq!(stopping.body["state"], "stopping", "{stopping:?}");
    let runs = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    let teardown = runs.body["deployments"][0]["id"].as_i64().unwrap();
    let record = fleet.wait(teardown).await;
    assert_eq!(record["status"], "finished", "{record}");
    let processes = record["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1, "only the environment's server");
    assert_eq!(processes[0]["name"], "Stop Environment");
    assert_eq!(processes[0]["server_name"], "review-box");

    let stopped = gitlab(Method::GET, format!("{base}/{id}"), Body::None).await;
    assert_eq!(stopped.body["state"], "stopped");
    assert!(
        !fleet.path(1).join("releases").exists(),
        "the teardown did not run"
    );
    let said = std::fs::read_to_string(traces.join("stopped")).unwrap();
    assert_eq!(said.trim(), "review/fix-foo review-fix-foo-v25cyx");
    // The project's summary still shows its last real deployment.
    let project = fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await;
    assert_eq!(project.body["project"]["last_deployment_id"], review["id"]);
}

/// `/deploy/{token}` deploys with the project's token as the only credential.
async fn the_deploy_url_deploys_with_the_project_token(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let project = fleet
        .app
        .get(&format!("/api/projects/{}", fleet.project))
        .await;
    let token = project.body["project"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = |suffix: &str| format!("{}/deploy/{token}{suffix}", fleet.app.address);

    let reply = fleet
        .app
        .client
        .get(url("?branch=main"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    let first = fleet.wait(body["deployment"]["id"].as_i64().unwrap()).await;
    assert_eq!(
        (first["status"].as_str(), first["user_id"].as_i64()),
        (Some("finished"), Some(1))
    );

    let sha = fleet.repo.commit(
        &[("public/index.html", "by url\n")],
        "By URL",
        "Eve",
        "eve@example.com",
    );
    let reply = fleet
        .app
        .client
        .post(url(""))
        .form(&[("sha", sha.as_str())])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = reply.json().await.unwrap();
    let second = fleet.wait(body["deployment"]["id"].as_i64().unwrap()).await;
    assert_eq!(second["commit_hash"], sha);

    let unknown = fleet
        .app
        .client
        .get(format!("{}/deploy/not-a-token", fleet.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = fleet
        .app
        .client
        .get(url("?branch=$(id)"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

/// A viewer of a queued deployment is answered at once (a proxy would give up on a request
/// answered only when the deployment starts), and sees it from its start.
async fn a_queued_deployment_s_stream_answers_at_once(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let gate = fleet.add_gate().await;
    let first = fleet.start(json!({})).await;
    fleet.wait_for_process(first, "Gate", "running").await;
    let second = fleet.start(json!({})).await;
    let url = format!(
        "{}/api/projects/{}/deployments/{second}/stream",
        fleet.app.address, fleet.project
    );
    let request = fleet
        .app
        .client
        .get(url)
        .bearer_auth(&fleet.app.token)
        .send();
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), request)
        .await
        .expect("the stream of a queued deployment answers before it starts")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    gate.open();
    let events = response.text().await.unwrap();
    assert!(events.contains("event: process"), "{events}");
    assert!(
        events
            .trim_end()
            .ends_with("data: {\"event\":\"end\",\"status\":\"finished\"}"),
        "{events}"
    );
}

/// Makes the database refuse (or accept again) a deployment's final status, as a database
/// that fails at the worst moment would.
async fn hold_final_statuses(app: &TestApp, backend: Backend, hold: bool) {
    let statements: &[&str] = match (backend, hold) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER hold_the_end BEFORE UPDATE OF status ON deployments \
             WHEN NEW.status IN ('finished', 'error', 'cancelled') \
             BEGIN SELECT RAISE(ABORT, 'held by the test'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER hold_the_end"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION hold_the_end() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'held by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER hold_the_end BEFORE UPDATE OF status ON deployments FOR EACH ROW \
             WHEN (NEW.status IN ('finished', 'error', 'cancelled')) \
             EXECUTE FUNCTION hold_the_end()",
        ],
        (Backend::Postgres, false) => &["DROP TRIGGER hold_the_end ON deployments"],
    };
    for statement in statements {
        execute_sql(app, statement).await;
    }
}

/// Followers hear a deployment's end only once it is recorded: while the database refuses
/// the final status the stream stays open (the worker retries), and whoever reads the record
/// after `end` finds it ended.
async fn the_end_is_announced_only_once_recorded(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    fleet
        .hook(json!({
            "name": "Fail", "runAs": HOOK_USER, "actionId": 1, "timing": "after",
            "script": "exit 3",
        }))
        .await;
    hold_final_statuses(&fleet.app, backend, true).await;
    let id = fleet.start(json!({})).await;
    let mut stream = fleet
        .app
        .client
        .get(format!(
            "{}/api/projects/{}/deployments/{id}/stream",
            fleet.app.address, fleet.project
        ))
        .bearer_auth(&fleet.app.token)
        .send()
        .await
        .unwrap();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let listener = {
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = stream.chunk().await {
                heard
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    // The worker closes the steps before it records the end: then it is retrying.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let record = fleet.record(id).await;
        let processes = record["processes"].as_array().cloned().unwrap_or_default();
        if !processes.is_empty()
            && processes
                .iter()
                .all(|p| !matches!(p["status"].as_str(), Some("pending" | "running")))
        {
            assert_eq!(record["status"], "running", "{record}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{record}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // An end announced without being recorded would come at once.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !heard.lock().unwrap().contains("event: end"),
        "the end was announced before it was recorded: {}",
        heard.lock().unwrap()
    );
    hold_final_statuses(&fleet.app, backend, false).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !heard.lock().unwrap().contains("event: end") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end after the database accepted it again: {}",
            heard.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let record = fleet.record(id).await;
    assert_eq!(record["status"], "error", "{record}");
    assert!(heard.lock().unwrap().contains(r#""status":"error""#));
    listener.abort();
}

on_both_databases!(
    the_end_is_announced_only_once_recorded,
    a_queued_deployment_s_stream_answers_at_once,
    the_deploy_url_deploys_with_the_project_token,
    stopping_an_environment_runs_its_teardown,
    deployments_reach_only_their_environment,
    output_is_streamed_stored_and_capped,
    a_failed_reload_after_the_switch_is_rolled_back,
    retention_keeps_the_newest_releases,
    an_unreachable_server_stops_the_deployment,
    a_restart_ends_an_interrupted_deployment,
    the_environment_is_written_to_its_servers,
    refresh_checks_the_server_and_pins_its_host_key,
    linked_folders_and_hook_only_servers,
    composer_installs_dependencies,
    a_step_that_runs_too_long_fails,
    a_failed_activation_switches_back_the_servers_that_switched,
    branches_tags_and_commits,
    cancel_stops_a_long_hook_and_removes_the_release,
    a_cancel_after_activation_says_the_release_is_live,
    a_second_request_waits_and_a_third_replaces_it,
    first_and_second_deployments,
    hooks_get_their_variables_and_user,
    a_hook_failing_on_one_server_stops_everything_before_activation,
);
