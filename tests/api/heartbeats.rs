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

/// Check-ins by URL keep a heartbeat healthy; an interval without one makes it missing (the
/// sweep is run with a clock moved forward), and the next check-in makes it healthy again.
async fn check_ins_and_missing_heartbeats(backend: Backend) {
    use slipway::domain::time::Timestamp;
    let app = spawn_app(backend).await;
    let project = app.project("Beats").await;
    let path = format!("/api/projects/{project}/heartbeats");
    let created = app
        .post(&path, json!({"name": "cron", "interval": 10}))
        .await;
    let token = created.body["heartbeat"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created.body["heartbeat"]["id"].as_i64().unwrap();
    let check_in = format!("{}/heartbeat/{token}", app.address);

    let created_at = created.body["heartbeat"]["last_checked_in_at"].clone();
    let reply = app.client.get(&check_in).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    // Check-ins are written in batches; the jobs flush at least every 250 ms, this at once.
    slipway::services::heartbeats::flush(&app.app)
        .await
        .unwrap();
    let checked =
        app.get(&format!("{path}/{id}")).await.body["heartbeat"]["last_checked_in_at"].clone();
    assert!(checked.is_string());
    assert_ne!(checked, created_at, "the check-in time was recorded");
    assert_eq!(count_rows(&app, "heartbeats", "check_ins = 1").await, 1);

    // Nine minutes later nothing is missing; eleven minutes later it is.
    let now = Timestamp::now();
    assert!(
        slipway::services::heartbeats::mark_missing(&app.app, now.minus_seconds(-9 * 60))
            .await
            .unwrap()
            .is_empty()
    );
    let missing =
        slipway::services::heartbeats::mark_missing(&app.app, now.minus_seconds(-11 * 60))
            .await
            .unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(
        app.get(&format!("{path}/{id}")).await.body["heartbeat"]["status"],
        "missing"
    );
    assert_eq!(
        app.get(&format!("/api/projects/{project}")).await.body["project"]["has_missing_heartbeats"],
        true
    );
    assert!(
        slipway::services::heartbeats::mark_missing(&app.app, now.minus_seconds(-20 * 60))
            .await
            .unwrap()
            .is_empty(),
        "a transition happens once"
    );

    let reply = app.client.post(&check_in).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    slipway::services::heartbeats::flush(&app.app)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("{path}/{id}")).await.body["heartbeat"]["status"],
        "healthy"
    );
    assert_eq!(
        app.get(&format!("/api/projects/{project}")).await.body["project"]["has_missing_heartbeats"],
        false
    );

    let unknown = app
        .client
        .get(format!("{}/heartbeat/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

on_both_databases!(
    check_ins_and_missing_heartbeats,
    create_list_get_delete,
    create_validates
);
