use serde_json::json;

use crate::helpers::*;

/// The document's example is a Discord channel (`options.webhook`); e-mail channels show
/// `options.email`, so `options` is checked per type by the tests themselves.
fn notification_shape() -> serde_json::Value {
    let mut shape = example("notification");
    shape["options"] = json!({});
    shape
}

async fn create_each_type_and_update(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Notify").await;
    let path = format!("/api/projects/{project}/notifications");
    let cases = [
        ("email", "email_address", "taylor@laravel.com", "email"),
        (
            "slack",
            "slack_webhook",
            "https://hooks.slack.com/services/T0/B0/secretpart",
            "webhook",
        ),
        (
            "discord",
            "discord_webhook",
            "https://discord.com/api/webhooks/1/secretpart",
            "webhook",
        ),
        (
            "teams",
            "teams_webhook",
            "https://example.webhook.office.com/webhookb2/secretpart",
            "webhook",
        ),
    ];
    for (i, (kind, field, address, option)) in cases.iter().enumerate() {
        let reply = app
            .post(
                &path,
                json!({"name": format!("To {kind}"), "type": kind, *field: address}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let list = reply.body["notifications"].as_array().unwrap();
        assert_eq!(list.len(), i + 1, "create answers the whole list");
        let created = &list[i];
        assert_shape(created, &notification_shape());
        assert_eq!(created["type"], *kind);
        assert_eq!(created["options"], json!({*option: address}));
        assert_eq!(created["active"], 1);
    }
    let dump = crate::projects::database_text(&app).await;
    assert!(
        !dump.contains("secretpart"),
        "web hook URLs are stored in plain text"
    );

    let id = app.get(&path).await.body["notifications"][0]["id"]
        .as_i64()
        .unwrap();
    let one = format!("{path}/{id}");
    let reply = app.put(&one, json!({"name": "Taylor"})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["notification"]["name"], "Taylor");
    assert_eq!(
        reply.body["notification"]["options"],
        json!({"email": "taylor@laravel.com"})
    );
    let reply = app.put(&one, json!({"active": false})).await;
    assert_eq!(reply.body["notification"]["active"], 0);
    // Switching the type needs the new type's address.
    assert_invalid(
        &app.put(&one, json!({"type": "slack"})).await,
        &["slack_webhook"],
    );
    let reply = app
        .put(
            &one,
            json!({"type": "slack", "slack_webhook": "https://hooks.slack.com/x"}),
        )
        .await;
    assert_eq!(
        reply.body["notification"]["options"],
        json!({"webhook": "https://hooks.slack.com/x"})
    );
    assert_shape(
        &app.get(&one).await.body["notification"],
        &example("notification"),
    );

    let deleted = app.delete(&one, json!({})).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (200, ""));
    assert_not_found(&app.get(&one).await);
    assert_eq!(
        app.get(&path).await.body["notifications"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

async fn create_validates_the_per_type_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Notify").await;
    let path = format!("/api/projects/{project}/notifications");
    assert_invalid(&app.post(&path, json!({})).await, &["name", "type"]);
    assert_invalid(
        &app.post(&path, json!({"name": "x", "type": "pager"})).await,
        &["type"],
    );
    for (kind, field) in [
        ("email", "email_address"),
        ("slack", "slack_webhook"),
        ("discord", "discord_webhook"),
        ("teams", "teams_webhook"),
    ] {
        let reply = app.post(&path, json!({"name": "x", "type": kind})).await;
        assert_invalid(&reply, &[field]);
        assert_eq!(
            reply.body["errors"][field][0],
            format!("The {} field is required.", field.replace('_', " "))
        );
        let reply = app
            .post(
                &path,
                json!({"name": "x", "type": kind, field: "javascript:alert(1)"}),
            )
            .await;
        assert_invalid(&reply, &[field]);
    }
    assert_eq!(app.get(&path).await.body, json!({"notifications": []}));
}

on_both_databases!(
    create_each_type_and_update,
    create_validates_the_per_type_field
);
