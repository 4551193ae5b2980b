use serde_json::json;

use crate::helpers::*;

async fn create_list_get_update_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Hooks").await;
    let one = app.server(project, "one").await;
    let two = app.server(project, "two").await;
    let path = format!("/api/projects/{project}/hooks");

    let reply = app
        .post(
            &path,
            json!({
                "name": "Build Frontend", "script": "npm run prod", "runAs": "forge",
                "actionId": 2, "timing": "after", "servers": [one]
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let hook = &reply.body["hook"];
    assert_shape(hook, &example("hook"));
    assert_eq!(hook["run_as"], "forge");
    assert_eq!(hook["action_id"], 2);
    assert_eq!(hook["sequence"], 1);
    assert_eq!(hook["servers"], json!([one]));
    let id = hook["id"].as_i64().unwrap();

    // Without servers, a hook runs on every server; sequence counts per action and timing.
    let second = app
        .post(&path, json!({"name": "Migrate", "script": "php artisan migrate --force", "run_as": "forge", "action_id": 2, "timing": "after"}))
        .await;
    assert_eq!(second.body["hook"]["sequence"], 2);
    assert_eq!(second.body["hook"]["servers"], json!([one, two]));
    let before = app
        .post(&path, json!({"name": "Announce", "script": "echo hi", "runAs": "forge", "actionId": 1, "timing": "before"}))
        .await;
    assert_eq!(before.body["hook"]["sequence"], 1);

    // A flat list, in running order.
    let list = app.get(&path).await;
    let names: Vec<&str> = list.body["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Announce", "Build Frontend", "Migrate"]);
    assert_shape(&list.body["hooks"][0], &example("hook"));

    let hook_path = format!("{path}/{id}");
    let reply = app.put(&hook_path, json!({"servers": [two, one]})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["hook"]["servers"], json!([one, two]));
    assert_eq!(reply.body["hook"]["script"], "npm run prod");
    let reply = app
        .put(
            &hook_path,
            json!({"script": "npm ci && npm run prod", "timing": "before"}),
        )
        .await;
    assert_eq!(reply.body["hook"]["script"], "npm ci && npm run prod");
    assert_eq!(reply.body["hook"]["timing"], "before");
    assert_eq!(
        app.get(&hook_path).await.body["hook"]["servers"],
        json!([one, two])
    );

    let deleted = app.delete(&hook_path, json!({})).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (200, ""));
    assert_not_found(&app.get(&hook_path).await);

    // Deleting a server takes it out of its hooks.
    app.delete(&format!("/api/projects/{project}/servers/{one}"), json!({}))
        .await;
    let second_id = second.body["hook"]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("{path}/{second_id}")).await.body["hook"]["servers"],
        json!([two])
    );
}

async fn create_validates(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Strict").await;
    let other = app.project("Other").await;
    let foreign = app.server(other, "theirs").await;
    let path = format!("/api/projects/{project}/hooks");
    assert_invalid(
        &app.post(&path, json!({})).await,
        &["name", "script", "runAs", "actionId", "timing"],
    );
    let reply = app
        .post(
            &path,
            json!({
                "name": "x", "script": "true", "runAs": "root; rm -rf /", "actionId": 5,
                "timing": "during", "servers": [foreign]
            }),
        )
        .await;
    assert_invalid(&reply, &["runAs", "actionId", "timing"]);
    let reply = app
        .post(&path, json!({"name": "x", "script": "true", "runAs": "forge", "actionId": 1, "timing": "after", "servers": [foreign]}))
        .await;
    assert_invalid(&reply, &["servers"]);
    assert_invalid(&app.post(&path, json!({"name": "x", "script": "   ", "runAs": "forge", "actionId": "one", "timing": "after"})).await, &["script", "actionId"]);
    assert_eq!(app.get(&path).await.body, json!({"hooks": []}));
    assert_not_found(&app.get(&format!("{path}/12345")).await);
}

on_both_databases!(create_list_get_update_delete, create_validates);
