use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn write_and_read_with_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Env").await;
    let web = app.server(project, "web").await;
    let worker = app.server(project, "worker").await;
    let path = format!("/api/projects/{project}/environment");

    // Nothing stored yet: empty contents, whatever the key.
    let reply = app
        .request(
            Method::GET,
            &path,
            Some(&app.token),
            Body::Json(json!({"key": "anything"})),
        )
        .await;
    assert_eq!(reply.body, json!({"environment": ""}));
    assert_eq!(
        app.get(&format!("/api/projects/{project}")).await.body["project"]["has_environment"],
        false
    );

    let contents = "APP_NAME=Laravel\nAPP_KEY=base64:s3cr3t-value\n";
    // Neither server can be reached (a closed port): the contents are stored all the same,
    // and the answer names each server the file could not be written to.
    let reply = app
        .put(
            &path,
            json!({"key": "foobar", "contents": contents, "servers": [web, worker]}),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let message = reply.body["message"].as_str().unwrap();
    assert!(
        message.contains("web (") && message.contains("worker ("),
        "{message}"
    );
    assert!(!message.contains("s3cr3t"));

    // The key as a JSON body on GET, in the query string, or as a form body.
    let reply = app
        .request(
            Method::GET,
            &path,
            Some(&app.token),
            Body::Json(json!({"key": "foobar"})),
        )
        .await;
    assert_eq!(reply.body, json!({"environment": contents}));
    let reply = app.get(&format!("{path}?key=foobar")).await;
    assert_eq!(reply.body["environment"], contents);
    let reply = app
        .request(
            Method::GET,
            &path,
            Some(&app.token),
            Body::Form(&[("key", "foobar")]),
        )
        .await;
    assert_eq!(reply.body["environment"], contents);

    // Only servers that received the file count as having it.
    assert_eq!(
        app.get(&format!("{path}/servers")).await.body,
        json!({"servers": []})
    );
    let project_view = app.get(&format!("/api/projects/{project}")).await;
    assert_eq!(
        project_view.body["project"]["environment_servers"],
        json!([])
    );
    assert_eq!(project_view.body["project"]["has_environment"], true);

    // Without servers to write to, an update just stores.
    let reply = app
        .put(&path, json!({"key": "foobar", "contents": "A=3\n"}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({"servers": []}));
    assert_eq!(
        app.get(&format!("{path}?key=foobar")).await.body["environment"],
        "A=3\n"
    );

    let dump = crate::projects::database_text(&app).await;
    assert!(!dump.contains("A=3") && !dump.contains("s3cr3t-value") && !dump.contains("foobar"));
}

async fn wrong_or_missing_key_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Locked").await;
    let path = format!("/api/projects/{project}/environment");
    app.put(&path, json!({"key": "right", "contents": "SECRET=1\n"}))
        .await;

    let reply = app.get(&format!("{path}?key=wrong")).await;
    assert_invalid(&reply, &["key"]);
    assert!(!reply.text.contains("SECRET"));
    assert_invalid(&app.get(&path).await, &["key"]);

    // Overwriting needs the current key too, and nothing changes when it is wrong.
    assert_invalid(
        &app.put(&path, json!({"key": "wrong", "contents": "X=1"}))
            .await,
        &["key"],
    );
    assert_eq!(
        app.get(&format!("{path}?key=right")).await.body["environment"],
        "SECRET=1\n"
    );

    assert_invalid(&app.put(&path, json!({"contents": "X=1"})).await, &["key"]);
    assert_invalid(
        &app.put(&path, json!({"key": "right"})).await,
        &["contents"],
    );
    assert_invalid(
        &app.put(&path, json!({"key": "right", "contents": 5})).await,
        &["contents"],
    );
}

async fn servers_must_belong_to_the_project(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Mine").await;
    let other = app.project("Other").await;
    let foreign = app.server(other, "theirs").await;
    let path = format!("/api/projects/{project}/environment");
    let reply = app
        .put(
            &path,
            json!({"key": "k", "contents": "A=1", "servers": [foreign]}),
        )
        .await;
    assert_invalid(&reply, &["servers"]);
    assert_invalid(
        &app.put(
            &path,
            json!({"key": "k", "contents": "A=1", "servers": ["x"]}),
        )
        .await,
        &["servers"],
    );
    assert_eq!(
        app.get(&format!("{path}?key=k")).await.body["environment"],
        ""
    );
}

async fn reset_wipes_and_takes_the_new_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Reset").await;
    let web = app.server(project, "web").await;
    let path = format!("/api/projects/{project}/environment");
    app.put(
        &path,
        json!({"key": "old", "contents": "OLD=1\n", "servers": [web]}),
    )
    .await;

    assert_invalid(&app.delete(&path, json!({})).await, &["key"]);
    let reply = app.delete(&path, json!({"key": "new-key"})).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, ""));
    assert_eq!(
        app.get(&format!("{path}?key=new-key")).await.body["environment"],
        ""
    );
    assert_invalid(&app.get(&format!("{path}?key=old")).await, &["key"]);
    assert_eq!(
        app.get(&format!("{path}/servers")).await.body["servers"],
        json!([])
    );
    let reply = app
        .put(&path, json!({"key": "new-key", "contents": "NEW=1\n"}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.get(&format!("{path}?key=new-key")).await.body["environment"],
        "NEW=1\n"
    );
}

/// The store refuses to overwrite contents that changed since they were read, so a reset that
/// lands while an update is sealing is not silently undone.
async fn writes_compare_and_swap(backend: Backend) {
    use slipway::db::projects;
    use slipway::domain::ids::ProjectId;
    use slipway::domain::time::Timestamp;
    let app = spawn_app(backend).await;
    let project = ProjectId(app.project("Raced").await);
    let store = &app.app.store;
    let now = Timestamp::now();
    let swap = |expected: Option<&'static str>, salt: &'static str, sealed: &'static str| async move {
        projects::replace_sealed_environment(&mut &*store, project, expected, salt, sealed, now)
            .await
            .unwrap()
    };
    assert!(swap(None, "s1", "first").await);
    assert!(!swap(None, "s2", "second").await, "something is stored now");
    assert!(!swap(Some("stale"), "s2", "second").await);
    assert!(swap(Some("first"), "s3", "third").await);
    let stored = projects::sealed_environment(&mut &*store, project)
        .await
        .unwrap();
    assert_eq!(stored.environment_sealed.as_deref(), Some("third"));
    assert_eq!(stored.environment_salt.as_deref(), Some("s3"));
}

on_both_databases!(
    writes_compare_and_swap,
    write_and_read_with_the_key,
    wrong_or_missing_key_is_422,
    servers_must_belong_to_the_project,
    reset_wipes_and_takes_the_new_key,
);
