use serde_json::json;

use crate::helpers::*;

async fn create_list_get_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Beats").await;
    let path = format!("/api/projects/{project}/heartbeats");
    let reply = app
        .post(&path, json!({"name": "My Heartbeat", "interval": 10}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let heartbeat = &reply.body["heartbeat"];
    assert_shape(heartbeat, &example("heartbeat"));
    assert_eq!(heartbeat["interval"], 10);
    assert_eq!(heartbeat["status"], "healthy");
    assert_eq!(heartbeat["last_checked_in_at"], heartbeat["created_at"]);
    let token = heartbeat["token"].as_str().unwrap();
    assert_eq!(token.len(), 15);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    let id = heartbeat["id"].as_i64().unwrap();

    for interval in [30, 60, 1440, 10080, 44640] {
        let reply = app
            .post(
                &path,
                json!({"name": format!("every {interval}"), "interval": interval}),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    let list = app.get(&path).await;
    assert_eq!(list.body["heartbeats"].as_array().unwrap().len(), 6);
    assert_shape(&list.body["heartbeats"][0], &example("heartbeat"));
    assert_eq!(
        app.get(&format!("{path}/{id}")).await.body["heartbeat"]["token"],
        token
    );

    let dump = crate::projects::database_text(&app).await;
    assert!(
        !dump.contains(token),
        "heartbeat token stored in plain text"
    );

    let deleted = app.delete(&format!("{path}/{id}"), json!({})).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (200, ""));
    assert_not_found(&app.get(&format!("{path}/{id}")).await);
}

async fn create_validates(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Beats").await;
    let path = format!("/api/projects/{project}/heartbeats");
    assert_invalid(&app.post(&path, json!({})).await, &["name", "interval"]);
    assert_invalid(
        &app.post(&path, json!({"name": "x", "interval": 15})).await,
        &["interval"],
    );
    assert_invalid(
        &app.post(&path, json!({"name": "x", "interval": "often"}))
            .await,
        &["interval"],
    );
    assert_eq!(app.get(&path).await.body, json!({"heartbeats": []}));
}

on_both_databases!(create_list_get_delete, create_validates);
