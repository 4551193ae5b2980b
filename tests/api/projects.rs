use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn create_get_list_match_the_document(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/projects",
            json!({
                "name": "Laravel", "provider": "github", "repository": "laravel/laravel",
                "branch": "main", "type": "laravel-5", "retain_deployments": 5,
                "monitor": "https://my-laravel-project.com",
                "composer": true, "composer_dev": false, "composer_quiet": true
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["content-type"], "application/json");
    let project = &reply.body["project"];
    assert_shape(project, &example("project"));
    assert_eq!(project["repository"], "git@github.com:laravel/laravel.git");
    assert_eq!(project["plain_repository"], "laravel/laravel");
    assert_eq!(project["install_dependencies"], true);
    assert_eq!(project["quiet_composer"], true);
    assert_eq!(project["install_dev_dependencies"], false);
    assert_eq!(project["retain_deployments"], 5);
    assert_eq!(project["status"], serde_json::Value::Null);
    assert_eq!(project["last_deployment_hash"], "");
    assert_eq!(project["servers"], json!([]));
    let token = project["token"].as_str().unwrap();
    assert_eq!(token.len(), 40);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    let created = project["created_at"].as_str().unwrap();
    assert!(
        created.len() == 27 && created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );

    let id = project["id"].as_i64().unwrap();
    app.server(id, "web-1").await;
    let got = app.get(&format!("/api/projects/{id}")).await;
    assert_eq!(got.status, 200);
    assert_shape(&got.body["project"], &example("project"));
    assert_eq!(got.body["project"]["servers"][0]["name"], "web-1");
    assert_shape(&got.body["project"]["servers"][0], &example("server"));
    assert_eq!(got.body["project"]["token"], token);

    app.project("Second").await;
    let list = app.get("/api/projects").await;
    assert_eq!(list.status, 200);
    let names: Vec<&str> = list.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Laravel", "Second"]);
    assert_eq!(
        list.body["projects"][0]["servers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(list.body["projects"][1]["servers"], json!([]));
}

async fn form_bodies_work_even_when_labelled_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let fields: &[(&str, &str)] = &[
        ("name", "Form"),
        ("provider", "gitlab"),
        ("repository", "group/sub/app"),
        ("branch", "develop"),
        ("type", "other"),
        ("composer", "0"),
    ];
    let reply = app
        .request(
            Method::POST,
            "/api/projects",
            Some(&app.token),
            Body::Form(fields),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["project"]["repository"],
        "git@gitlab.com:group/sub/app.git"
    );
    assert_eq!(reply.body["project"]["install_dependencies"], false);
    assert_eq!(reply.body["project"]["branch"], "develop");

    let reply = app
        .request(
            Method::POST,
            "/api/projects",
            Some(&app.token),
            Body::Raw(
                "application/json",
                "name=Mislabelled&provider=bitbucket&repository=team/app",
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["project"]["repository"],
        "git@bitbucket.org:team/app.git"
    );
}

async fn custom_provider_takes_git_urls(backend: Backend) {
    let app = spawn_app(backend).await;
    let allowed = std::env::temp_dir().join("repos/app.git");
    let file_url = format!("file://{}", allowed.display());
    let reply = app
        .post(
            "/api/projects",
            json!({"name": "Local", "provider": "custom", "repository": file_url}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["project"]["repository"], file_url);
    let https = app
        .post("/api/projects", json!({"name": "Remote", "provider": "custom", "repository": "https://git.example.com/team/app.git"}))
        .await;
    assert_eq!(
        https.body["project"]["repository"],
        "https://git.example.com/team/app.git"
    );

    for repository in [
        "--upload-pack=touch /tmp/x",
        // Outside the directory local repositories are allowed from.
        "file:///etc/secret-repo.git",
        // Credentials would be stored and shown in plain text.
        "https://oauth2:glpat-secret@git.example.com/team/app.git",
    ] {
        let reply = app
            .post(
                "/api/projects",
                json!({"name": "Bad", "provider": "custom", "repository": repository}),
            )
            .await;
        assert_invalid(&reply, &["repository"]);
        assert!(!reply.text.contains("glpat-secret"));
    }
    assert_eq!(
        app.get("/api/projects").await.body["projects"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn create_reports_every_bad_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app.post("/api/projects", json!({})).await;
    assert_invalid(&reply, &["name", "provider", "repository"]);
    assert_eq!(
        reply.body["errors"]["name"][0],
        "The name field is required."
    );

    let reply = app
        .post(
            "/api/projects",
            json!({
                "name": 42, "provider": "sourceforge", "repository": "x",
                "branch": "main;rm -rf /", "type": "rails", "retain_deployments": 0,
                "monitor": "not a url", "composer": "maybe"
            }),
        )
        .await;
    // With an unknown provider the repository's form cannot be judged, so only the provider is reported.
    assert_invalid(
        &reply,
        &[
            "name",
            "provider",
            "branch",
            "type",
            "retain_deployments",
            "monitor",
            "composer",
        ],
    );
    assert_eq!(
        reply.body["errors"]["name"][0],
        "The name field must be a string."
    );
    assert_eq!(
        reply.body["errors"]["provider"][0],
        "The selected provider is invalid."
    );

    let reply = app
        .post("/api/projects", json!({
            "name": "x".repeat(256), "provider": "github", "repository": "a/b/c", "retain_deployments": "five"
        }))
        .await;
    assert_invalid(&reply, &["name", "repository", "retain_deployments"]);

    for branch in ["$(reboot)", "a..b", "-rf", "has space", "x`id`"] {
        let reply = app
            .post(
                "/api/projects",
                json!({"name": "n", "provider": "github", "repository": "a/b", "branch": branch}),
            )
            .await;
        assert_invalid(&reply, &["branch"]);
    }
    assert_eq!(app.get("/api/projects").await.body["projects"], json!([]));
}

async fn malformed_bodies_are_422(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in ["{\"name\":", "[1,2]", "\"text\"", "{\"name\": tru}"] {
        let reply = app
            .request(
                Method::POST,
                "/api/projects",
                Some(&app.token),
                Body::Raw("application/json", body),
            )
            .await;
        assert_invalid(&reply, &["body"]);
    }
    let reply = app
        .request(
            Method::POST,
            "/api/projects",
            Some(&app.token),
            Body::Raw("application/json", "\u{0}\u{1}"),
        )
        .await;
    assert_invalid(&reply, &["body"]);

    // Control characters inside values are refused too (PostgreSQL cannot even store NUL).
    let reply = app
        .post(
            "/api/projects",
            json!({"name": "a\u{0}b", "provider": "github", "repository": "a/b"}),
        )
        .await;
    assert_invalid(&reply, &["name"]);
    let id = app.project("Kept").await;
    let hook = app
        .post(&format!("/api/projects/{id}/hooks"), json!({
            "name": "x", "script": "echo \u{0}", "runAs": "forge", "actionId": 1, "timing": "after"
        }))
        .await;
    assert_invalid(&hook, &["script"]);
    let env = app
        .put(
            &format!("/api/projects/{id}/environment"),
            json!({"key": "k", "contents": "A=\u{0}"}),
        )
        .await;
    assert_invalid(&env, &["contents"]);
    assert_eq!(
        app.get("/api/projects").await.body["projects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn update_changes_only_what_is_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.project("Before").await;
    let reply = app
        .put(
            &format!("/api/projects/{id}"),
            json!({
                "name": "After", "retain_deployments": 10, "monitor": "https://example.com/up",
                "composer_dev": true
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let project = &reply.body["project"];
    assert_eq!(project["name"], "After");
    assert_eq!(project["retain_deployments"], 10);
    assert_eq!(project["monitor"], "https://example.com/up");
    assert_eq!(project["install_dev_dependencies"], true);
    assert_eq!(project["install_dependencies"], true);
    assert_eq!(project["branch"], "main");
    assert_eq!(project["repository"], "git@github.com:laravel/laravel.git");

    let reply = app
        .put(&format!("/api/projects/{id}"), json!({"monitor": null}))
        .await;
    assert_eq!(reply.body["project"]["monitor"], serde_json::Value::Null);

    let reply = app
        .put(
            &format!("/api/projects/{id}"),
            json!({"retain_deployments": 1000}),
        )
        .await;
    assert_invalid(&reply, &["retain_deployments"]);
    assert_eq!(
        app.get(&format!("/api/projects/{id}")).await.body["project"]["retain_deployments"],
        10
    );
}

async fn update_source_changes_repository_and_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.project("Source").await;
    let reply = app
        .put(
            &format!("/api/projects/{id}/source"),
            json!({
                "provider": "gitlab-self", "repository": "git.example.com/team/app",
                "branch": "release/2.x", "push_to_deploy": true
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let project = &reply.body["project"];
    assert_eq!(project["provider"], "gitlab-self");
    assert_eq!(project["repository"], "git@git.example.com:team/app.git");
    assert_eq!(project["branch"], "release/2.x");
    assert_eq!(project["push_to_deploy"], true);
    assert_eq!(project["name"], "Source");

    // A new provider whose format the old repository does not fit needs a repository.
    let reply = app
        .put(
            &format!("/api/projects/{id}/source"),
            json!({"provider": "github"}),
        )
        .await;
    assert_invalid(&reply, &["repository"]);
    let reply = app
        .put(
            &format!("/api/projects/{id}/source"),
            json!({"branch": "bad branch"}),
        )
        .await;
    assert_invalid(&reply, &["branch"]);
    assert_eq!(
        app.get(&format!("/api/projects/{id}")).await.body["project"]["branch"],
        "release/2.x"
    );
}

async fn delete_removes_the_project_and_everything_in_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.project("Survivor").await;
    let id = app.project("Doomed").await;
    let server = app.server(id, "web").await;
    let p = format!("/api/projects/{id}");
    app.post(&format!("{p}/hooks"), json!({"name": "h", "script": "true", "runAs": "forge", "actionId": 1, "timing": "after", "servers": [server]})).await;
    app.post(
        &format!("{p}/heartbeats"),
        json!({"name": "cron", "interval": 10}),
    )
    .await;
    app.post(
        &format!("{p}/notifications"),
        json!({"name": "n", "type": "email", "email_address": "a@b.co"}),
    )
    .await;
    app.post(&format!("{p}/folders"), json!({"from": "a", "to": "b"}))
        .await;
    app.put(
        &format!("{p}/environment"),
        json!({"key": "k", "contents": "A=1", "servers": [server]}),
    )
    .await;
    let children = [
        "servers",
        "hooks",
        "heartbeats",
        "notifications",
        "linked_folders",
    ];
    for table in children {
        assert_eq!(
            count_rows(&app, table, &format!("project_id = {id}")).await,
            1,
            "{table}"
        );
    }

    let reply = app.delete(&p, json!({})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "");
    assert_not_found(&app.get(&p).await);
    assert_not_found(&app.get(&format!("{p}/servers")).await);
    assert_not_found(&app.delete(&p, json!({})).await);
    for table in children {
        assert_eq!(
            count_rows(&app, table, &format!("project_id = {id}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(count_rows(&app, "hook_servers", "1 = 1").await, 0);
    assert_eq!(
        count_rows(&app, "projects", "1 = 1").await,
        1,
        "only the other project is left"
    );
}

async fn other_users_projects_and_unknown_ids_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.project("Private").await;
    let stranger = app.token_for("stranger@example.com", "*").await;
    for (method, path) in [
        (Method::GET, format!("/api/projects/{id}")),
        (Method::PUT, format!("/api/projects/{id}")),
        (Method::DELETE, format!("/api/projects/{id}")),
        (Method::GET, format!("/api/projects/{id}/servers")),
        (Method::GET, format!("/api/projects/{id}/hooks")),
        (
            Method::GET,
            format!("/api/projects/{id}/environment/servers"),
        ),
        (Method::POST, format!("/api/projects/{id}/heartbeats")),
    ] {
        let reply = app
            .request(
                method,
                &path,
                Some(&stranger),
                Body::Json(json!({"name": "x"})),
            )
            .await;
        assert_not_found(&reply);
    }
    let reply = app
        .request(Method::GET, "/api/projects", Some(&stranger), Body::None)
        .await;
    assert_eq!(reply.body["projects"], json!([]));
    for path in [
        "/api/projects/999999",
        "/api/projects/abc",
        "/api/projects/-1",
        "/api/projects/0",
    ] {
        assert_not_found(&app.get(path).await);
    }
    assert_eq!(
        app.get(&format!("/api/projects/{id}")).await.body["project"]["name"],
        "Private"
    );
}

async fn linked_folders(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.project("Folders").await;
    let path = format!("/api/projects/{id}/folders");
    let reply = app
        .post(
            &path,
            json!({"from": "public/uploads", "to": "storage/app/uploads"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({"folders": [{"from": "public/uploads", "to": "storage/app/uploads"}]})
    );
    app.post(&path, json!({"from": "public/media", "to": "media"}))
        .await;
    let list = app.get(&path).await;
    assert_eq!(list.body["folders"].as_array().unwrap().len(), 2);
    assert_shape(&list.body["folders"][0], &example("folder"));
    let project = app.get(&format!("/api/projects/{id}")).await;
    assert_eq!(project.body["project"]["folders"], list.body["folders"]);

    for (from, to) in [
        ("../etc", "x"),
        ("a", "/abs"),
        ("a/../../b", "c"),
        ("a;b", "c"),
    ] {
        let reply = app.post(&path, json!({"from": from, "to": to})).await;
        assert_eq!(reply.status, 422, "{from} -> {to}: {reply:?}");
    }
    assert_invalid(&app.post(&path, json!({})).await, &["from", "to"]);
    assert_invalid(
        &app.post(&path, json!({"from": "public/media", "to": "other"}))
            .await,
        &["from"],
    );

    let reply = app
        .delete(
            &path,
            json!({"from": "public/uploads", "to": "storage/app/uploads"}),
        )
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, ""));
    assert_eq!(
        app.get(&path).await.body,
        json!({"folders": [{"from": "public/media", "to": "media"}]})
    );
    assert_not_found(
        &app.delete(
            &path,
            json!({"from": "public/uploads", "to": "storage/app/uploads"}),
        )
        .await,
    );
}

async fn deploy_token_is_not_stored_in_plain_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.project("Secretive").await;
    let token = app.get(&format!("/api/projects/{id}")).await.body["project"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let dump = database_text(&app).await;
    assert!(
        !dump.contains(&token),
        "the deploy token is stored in plain text"
    );
    assert!(
        !dump.contains(&app.token),
        "an API token is stored in plain text"
    );
}

/// Every text column of every row, concatenated, to look for secrets.
pub async fn database_text(app: &TestApp) -> String {
    use sqlx::Row;
    let mut out = String::new();
    let tables = [
        "users",
        "api_tokens",
        "projects",
        "servers",
        "heartbeats",
        "notifications",
    ];
    for table in tables {
        let sql = format!("SELECT * FROM {table}");
        match &app.app.store {
            slipway::db::Store::Sqlite(pool) => {
                for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .unwrap()
                {
                    for i in 0..row.len() {
                        if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                            out.push_str(&text);
                            out.push('\n');
                        }
                    }
                }
            }
            slipway::db::Store::Postgres(pool) => {
                for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .unwrap()
                {
                    for i in 0..row.len() {
                        if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                            out.push_str(&text);
                            out.push('\n');
                        }
                    }
                }
            }
        }
    }
    assert!(out.len() > 100, "the dump read nothing");
    out
}

/// The list is read a page (100) at a time: every project arrives once, in order, with its own
/// servers, across page boundaries.
async fn long_lists_arrive_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for index in 0..230 {
        ids.push(app.project(&format!("P{index}")).await);
    }
    for id in [ids[0], ids[99], ids[100], ids[229]] {
        app.server(id, &format!("web-{id}")).await;
    }
    let list = app.get("/api/projects").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.headers["content-type"], "application/json");
    let projects = list.body["projects"].as_array().unwrap();
    let listed: Vec<i64> = projects.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, ids);
    for project in projects {
        let id = project["id"].as_i64().unwrap();
        let servers = project["servers"].as_array().unwrap();
        if [ids[0], ids[99], ids[100], ids[229]].contains(&id) {
            assert_eq!(servers.len(), 1, "project {id}");
            assert_eq!(servers[0]["name"], format!("web-{id}"));
        } else {
            assert!(servers.is_empty(), "project {id}");
        }
    }
}

on_both_databases!(
    long_lists_arrive_whole,
    create_get_list_match_the_document,
    form_bodies_work_even_when_labelled_json,
    custom_provider_takes_git_urls,
    create_reports_every_bad_field,
    malformed_bodies_are_422,
    update_changes_only_what_is_sent,
    update_source_changes_repository_and_branch,
    delete_removes_the_project_and_everything_in_it,
    other_users_projects_and_unknown_ids_are_404,
    linked_folders,
    deploy_token_is_not_stored_in_plain_text,
);
