use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn create_with_defaults_and_own_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Servers").await;
    let path = format!("/api/projects/{project}/servers");
    let reply = app
        .post(
            &path,
            json!({
                "name": "My Test Server", "connectAs": "forge", "host": "test.laravel.com",
                "phpVersion": "php74"
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let server = &reply.body["server"];
    assert_shape(server, &example("server"));
    assert_eq!(server["port"], "22");
    assert_eq!(server["ip_address"], "test.laravel.com");
    assert_eq!(server["connect_as"], "forge");
    assert_eq!(server["deployment_path"], "/home/forge/app");
    assert_eq!(server["receives_code_deployments"], true);
    assert_eq!(server["php_path"], "php");
    assert_eq!(server["composer_path"], "composer");
    assert_eq!(server["connection_status"], "unknown");
    assert_eq!(server["project_id"], project);
    let key = server["public_key"].as_str().unwrap();
    assert!(
        key.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5") && key.ends_with('\n'),
        "{key}"
    );
    assert!(!reply.text.contains("PRIVATE"));

    let other = app
        .post(
            &path,
            json!({
                "name": "Second", "connectAs": "deploy", "host": "127.0.0.2", "phpVersion": "php81"
            }),
        )
        .await;
    assert_ne!(
        other.body["server"]["public_key"], server["public_key"],
        "each server has its own key"
    );

    // Every field, camelCase as documented.
    let full = app
        .post(&path, json!({
            "name": "Full", "connectAs": "root", "host": "127.0.0.3", "port": 2222,
            "phpVersion": "php81", "receivesCodeDeployments": false,
            "deploymentPath": "/var/www/site", "restartFpm": true, "composerPath": "/usr/local/bin/composer"
        }))
        .await;
    assert_eq!(full.status, 200, "{full:?}");
    let s = &full.body["server"];
    assert_eq!(
        (s["port"].as_str(), s["receives_code_deployments"].as_bool()),
        (Some("2222"), Some(false))
    );
    assert_eq!(s["deployment_path"], "/var/www/site");
    assert_eq!(s["should_restart_fpm"], true);
    assert_eq!(s["composer_path"], "/usr/local/bin/composer");

    // The response's snake_case names, as a form.
    let fields: &[(&str, &str)] = &[
        ("name", "Snake"),
        ("connect_as", "web"),
        ("ip_address", "::1"),
        ("php_version", "php80"),
        ("deployment_path", "/srv/app"),
        ("port", "22022"),
    ];
    let snake = app
        .request(Method::POST, &path, Some(&app.token), Body::Form(fields))
        .await;
    assert_eq!(snake.status, 200, "{snake:?}");
    assert_eq!(snake.body["server"]["ip_address"], "::1");
    assert_eq!(snake.body["server"]["port"], "22022");

    let list = app.get(&path).await;
    assert_eq!(list.body["servers"].as_array().unwrap().len(), 4);
    assert_shape(&list.body["servers"][0], &example("server"));
}

async fn create_validates_every_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Strict").await;
    let path = format!("/api/projects/{project}/servers");
    let reply = app.post(&path, json!({})).await;
    assert_invalid(&reply, &["name", "connectAs", "host", "phpVersion"]);
    assert_eq!(
        reply.body["errors"]["connectAs"][0],
        "The connect as field is required."
    );

    let reply = app
        .post(
            &path,
            json!({
                "name": "x", "connectAs": "Forge; rm", "host": "bad host", "phpVersion": "php99",
                "port": 70000, "deploymentPath": "relative/path", "composerPath": "composer; id",
                "restartFpm": "perhaps"
            }),
        )
        .await;
    assert_invalid(
        &reply,
        &[
            "connectAs",
            "host",
            "phpVersion",
            "port",
            "deploymentPath",
            "composerPath",
            "restartFpm",
        ],
    );
    for path_value in ["/home/../etc", "/home/forge/$(id)", "/"] {
        let reply = app
            .post(
                &path,
                json!({
                    "name": "x", "connectAs": "forge", "host": "h.com", "phpVersion": "php81",
                    "deploymentPath": path_value
                }),
            )
            .await;
        assert_invalid(&reply, &["deploymentPath"]);
    }
    assert_eq!(app.get(&path).await.body["servers"], json!([]));
}

async fn update_refresh_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Lifecycle").await;
    let id = app.server(project, "Old Name").await;
    let path = format!("/api/projects/{project}/servers/{id}");
    let before = app.get(&path).await.body["server"].clone();

    let reply = app
        .put(&path, json!({"name": "My New Server", "port": 2200}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["server"]["name"], "My New Server");
    assert_eq!(reply.body["server"]["port"], "2200");
    assert_eq!(reply.body["server"]["connect_as"], before["connect_as"]);
    assert_eq!(reply.body["server"]["public_key"], before["public_key"]);

    assert_invalid(
        &app.put(&path, json!({"phpVersion": "php1"})).await,
        &["phpVersion"],
    );

    let refreshed = app.post(&format!("{path}/refresh"), json!({})).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body["server"]["id"], id);

    let deleted = app.delete(&path, json!({})).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (200, ""));
    assert_not_found(&app.get(&path).await);
    assert_not_found(&app.put(&path, json!({"name": "x"})).await);
}

async fn servers_belong_to_their_project(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.project("First").await;
    let second = app.project("Second").await;
    let server = app.server(first, "web").await;
    assert_not_found(
        &app.get(&format!("/api/projects/{second}/servers/{server}"))
            .await,
    );
    assert_not_found(
        &app.delete(
            &format!("/api/projects/{second}/servers/{server}"),
            json!({}),
        )
        .await,
    );
    assert_eq!(
        app.get(&format!("/api/projects/{first}/servers/{server}"))
            .await
            .status,
        200
    );
}

async fn private_keys_are_sealed(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Keys").await;
    app.server(project, "web").await;
    let dump = crate::projects::database_text(&app).await;
    assert!(!dump.contains("PRIVATE KEY"));
    let master = std::fs::metadata(app.data_dir.path().join("master.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(master.permissions().mode() & 0o777, 0o600);
    assert_eq!(master.len(), 32);
}

on_both_databases!(
    create_with_defaults_and_own_key,
    create_validates_every_field,
    update_refresh_delete,
    servers_belong_to_their_project,
    private_keys_are_sealed,
);
