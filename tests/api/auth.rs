use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn missing_or_unknown_token_is_401(backend: Backend) {
    let app = spawn_app(backend).await;
    for token in [None, Some("slp_not-a-real-token")] {
        let reply = app
            .request(Method::GET, "/api/projects", token, Body::None)
            .await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body, json!({"message": "Unauthenticated."}));
        assert_eq!(reply.headers["content-type"], "application/json");
    }
    // The 401 comes before anything else, even for routes that would be 404.
    let reply = app
        .request(Method::GET, "/api/projects/999", None, Body::None)
        .await;
    assert_eq!(reply.status, 401);
}

async fn actions_are_the_four_fixed_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token_for("reader@example.com", "").await;
    let reply = app
        .request(Method::GET, "/api/actions", Some(&token), Body::None)
        .await;
    assert_eq!(reply.status, 200);
    let actions = reply.body["actions"].as_array().unwrap();
    let names: Vec<&str> = actions
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Clone New Release",
            "Install Composer Dependencies",
            "Activate New Release",
            "Purge Old Releases"
        ]
    );
    assert_eq!(actions[2]["view"], "scripts.deployments.ActivateNewRelease");
    for action in actions {
        assert_shape(action, &example("action"));
    }
}

async fn unknown_routes_and_methods_answer_json(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_not_found(&app.get("/api/nothing-here").await);
    let reply = app
        .request(Method::PATCH, "/api/projects", Some(&app.token), Body::None)
        .await;
    assert_eq!(reply.status, 405);
    assert!(reply.body["message"].is_string());
    let health = app.request(Method::GET, "/healthz", None, Body::None).await;
    assert_eq!((health.status, health.text.as_str()), (200, "ok"));
}

/// For every write, a token holding every scope but the one it needs is refused with 403,
/// and nothing changes.
async fn each_write_needs_its_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Scoped").await;
    let server = app.server(project, "web").await;
    let hook = app
        .post(
            &format!("/api/projects/{project}/hooks"),
            json!({
                "name": "h", "script": "true", "runAs": "forge", "actionId": 1, "timing": "before"
            }),
        )
        .await
        .body["hook"]["id"]
        .as_i64()
        .unwrap();
    let heartbeat = app
        .post(
            &format!("/api/projects/{project}/heartbeats"),
            json!({"name": "cron", "interval": 10}),
        )
        .await
        .body["heartbeat"]["id"]
        .as_i64()
        .unwrap();
    let notification = app
        .post(
            &format!("/api/projects/{project}/notifications"),
            json!({
                "name": "n", "type": "email", "email_address": "ops@example.com"
            }),
        )
        .await
        .body["notifications"][0]["id"]
        .as_i64()
        .unwrap();
    let p = format!("/api/projects/{project}");
    let cases: Vec<(Method, String, serde_json::Value, &str)> = vec![
        (
            Method::POST,
            "/api/projects".into(),
            json!({"name": "x", "provider": "github", "repository": "a/b"}),
            "projects:create",
        ),
        (
            Method::PUT,
            p.clone(),
            json!({"name": "y"}),
            "projects:create",
        ),
        (
            Method::PUT,
            format!("{p}/source"),
            json!({"branch": "dev"}),
            "projects:create",
        ),
        (Method::DELETE, p.clone(), json!({}), "projects:delete"),
        (
            Method::POST,
            format!("{p}/folders"),
            json!({"from": "a", "to": "b"}),
            "projects:create",
        ),
        (
            Method::DELETE,
            format!("{p}/folders"),
            json!({"from": "a", "to": "b"}),
            "projects:delete",
        ),
        (
            Method::POST,
            format!("{p}/servers"),
            json!({"name": "s", "connectAs": "forge", "host": "h.com", "phpVersion": "php81"}),
            "servers:create",
        ),
        (
            Method::PUT,
            format!("{p}/servers/{server}"),
            json!({"name": "s2"}),
            "servers:create",
        ),
        (
            Method::POST,
            format!("{p}/servers/{server}/refresh"),
            json!({}),
            "servers:create",
        ),
        (
            Method::DELETE,
            format!("{p}/servers/{server}"),
            json!({}),
            "servers:delete",
        ),
        (
            Method::PUT,
            format!("{p}/environment"),
            json!({"key": "k", "contents": "A=1"}),
            "environments:create",
        ),
        (
            Method::DELETE,
            format!("{p}/environment"),
            json!({"key": "k2"}),
            "environments:delete",
        ),
        (
            Method::POST,
            format!("{p}/hooks"),
            json!({"name": "h", "script": "true", "runAs": "forge", "actionId": 1, "timing": "after"}),
            "hooks:create",
        ),
        (
            Method::PUT,
            format!("{p}/hooks/{hook}"),
            json!({"name": "h2"}),
            "hooks:create",
        ),
        (
            Method::DELETE,
            format!("{p}/hooks/{hook}"),
            json!({}),
            "hooks:delete",
        ),
        (
            Method::POST,
            format!("{p}/heartbeats"),
            json!({"name": "c", "interval": 10}),
            "heartbeats:create",
        ),
        (
            Method::DELETE,
            format!("{p}/heartbeats/{heartbeat}"),
            json!({}),
            "heartbeats:delete",
        ),
        (
            Method::POST,
            format!("{p}/collaborators"),
            json!({"email": "admin@slipway.local"}),
            "collaborators:create",
        ),
        (
            Method::DELETE,
            format!("{p}/collaborators"),
            json!({"email": "admin@slipway.local"}),
            "collaborators:delete",
        ),
        (
            Method::POST,
            format!("{p}/notifications"),
            json!({"name": "n", "type": "email", "email_address": "a@b.co"}),
            "notifications:create",
        ),
        (
            Method::PUT,
            format!("{p}/notifications/{notification}"),
            json!({"name": "n2"}),
            "notifications:create",
        ),
        (
            Method::DELETE,
            format!("{p}/notifications/{notification}"),
            json!({}),
            "notifications:delete",
        ),
    ];
    let all = slipway::domain::scopes::Scope::all();
    for (method, path, body, needed) in cases {
        let others: Vec<String> = all
            .iter()
            .map(|s| s.to_string())
            .filter(|s| s != needed)
            .collect();
        let token = app
            .token_for("admin@slipway.local", &others.join(","))
            .await;
        let reply = app
            .request(method.clone(), &path, Some(&token), Body::Json(body))
            .await;
        assert_eq!(reply.status, 403, "{method} {path}: {reply:?}");
        assert_eq!(
            reply.body,
            json!({"message": "This action is unauthorized.", "missing_scope": needed}),
            "{method} {path}"
        );
        assert_eq!(
            reply.headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
    // Nothing was changed by the refused requests.
    let project = app.get(&p).await;
    assert_eq!(project.body["project"]["name"], "Scoped");
    assert_eq!(
        project.body["project"]["servers"].as_array().unwrap().len(),
        1
    );
    assert_eq!(project.body["project"]["branch"], "main");
}

/// A 429's `Retry-After`: whole seconds, soon (the allowance refills evenly over a minute).
fn assert_retry_after_is_soon(reply: &Reply) {
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
}

async fn rate_limit_answers_429_with_headers(backend: Backend) {
    let app = spawn_app_with(backend, 3).await;
    for remaining in [2, 1, 0] {
        let reply = app.get("/api/projects").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["x-ratelimit-limit"], "3");
        assert_eq!(
            reply.headers["x-ratelimit-remaining"],
            remaining.to_string().as_str()
        );
    }
    let reply = app.get("/api/projects").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body["message"], "Too Many Attempts.");
    for header in [
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(reply.headers.contains_key(header), "missing {header}");
    }
    assert_eq!(reply.headers["x-ratelimit-remaining"], "0");
    assert_retry_after_is_soon(&reply);
    // Another token has its own allowance.
    let other = app.token_for("other@example.com", "*").await;
    let reply = app
        .request(Method::GET, "/api/projects", Some(&other), Body::None)
        .await;
    assert_eq!(reply.status, 200);
}

/// One allowance per token across both dialects; GitLab's 429 is its plain `Retry later`
/// with `Retry-After`, which python-gitlab waits for.
async fn the_rate_limit_covers_the_gitlab_dialect_too(backend: Backend) {
    let app = spawn_app_with(backend, 3).await;
    let project = app.project("Limited").await; // the first request
    let path = format!("/projects/{project}/environments");
    assert_eq!(
        app.gitlab(Method::GET, &path, Some(&app.token), Body::None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.gitlab(Method::GET, &path, Some(&app.token), Body::None)
            .await
            .status,
        200
    );
    let reply = app
        .gitlab(Method::GET, &path, Some(&app.token), Body::None)
        .await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.text, "Retry later\n");
    assert_retry_after_is_soon(&reply);
    assert_eq!(reply.headers["ratelimit-limit"], "3");
    assert_eq!(reply.headers["ratelimit-remaining"], "0");
    assert!(reply.headers.contains_key("ratelimit-reset"));
    assert_eq!(
        app.get("/api/projects").await.status,
        429,
        "the same allowance"
    );
    // A bad token is still a 401 first.
    let reply = app
        .gitlab(Method::GET, &path, Some("slp_nope"), Body::None)
        .await;
    assert_eq!(reply.status, 401);
}

on_both_databases!(
    the_rate_limit_covers_the_gitlab_dialect_too,
    missing_or_unknown_token_is_401,
    actions_are_the_four_fixed_ones,
    unknown_routes_and_methods_answer_json,
    each_write_needs_its_scope,
    rate_limit_answers_429_with_headers,
);
