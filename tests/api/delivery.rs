//! Notifications delivered for real: chat web hooks to a local HTTP receiver, e-mail to a local
//! SMTP listener, retries, restarts, inactive channels and refused addresses.

use std::time::Duration;

use serde_json::{Value, json};
use slipway::domain::time::Timestamp;

use crate::helpers::*;
use crate::receivers::{Answer, HttpReceiver, SmtpListener};

/// A project with one heartbeat of ten minutes; answers (project id, heartbeat id).
async fn project_with_heartbeat(app: &TestApp) -> (i64, i64) {
    let project = app.project("Beats").await;
    let reply = app
        .post(
            &format!("/api/projects/{project}/heartbeats"),
            json!({"name": "cron", "interval": 10}),
        )
        .await;
    (project, reply.body["heartbeat"]["id"].as_i64().unwrap())
}

/// Lets the heartbeats' interval pass: each becomes missing, which notifies.
async fn miss_heartbeats(app: &TestApp) {
    let later = Timestamp::now().minus_seconds(-11 * 60);
    slipway::services::heartbeats::mark_missing(&app.app, later)
        .await
        .unwrap();
}

async fn add_channel(app: &TestApp, project: i64, body: Value) -> i64 {
    let reply = app
        .post(&format!("/api/projects/{project}/notifications"), body)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["notifications"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Polls the database until `filter` matches `count` outbox rows (30 s at most).
async fn wait_for_outbox(app: &TestApp, filter: &str, count: i64) {
    for _ in 0..1500 {
        if count_rows(app, "outbox", filter).await == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the outbox never had {count} rows where {filter}");
}

async fn each_chat_service_gets_its_own_format(backend: Backend) {
    let app = spawn_app(backend).await;
    let receiver = HttpReceiver::start().await;
    let (project, heartbeat) = project_with_heartbeat(&app).await;
    for kind in ["slack", "discord", "teams"] {
        add_channel(
            &app,
            project,
            json!({"name": kind, "type": kind, format!("{kind}_webhook"): format!("{}/{kind}", receiver.url)}),
        )
        .await;
    }
    miss_heartbeats(&app).await;

    let mut by_path = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let request = receiver.next().await;
        assert_eq!(request.method, "POST");
        assert_eq!(request.headers["content-type"], "application/json");
        by_path.insert(request.path.clone(), request.body);
    }
    let title = "Heartbeat missing: cron (Beats)";
    let link = format!("https://slipway.example.com/api/projects/{project}/heartbeats/{heartbeat}");
    assert_eq!(
        by_path["/slack"],
        json!({
            "text": title,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("*<{link}|{title}>*")}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Project*\nBeats"},
                    {"type": "mrkdwn", "text": "*Heartbeat*\ncron"},
                    {"type": "mrkdwn", "text": "*Status*\nmissing"},
                ]},
            ],
        })
    );
    assert_eq!(
        by_path["/discord"],
        json!({
            "username": "Slipway",
            "embeds": [{
                "title": title,
                "url": link,
                "color": 0xd03b3b,
                "fields": [
                    {"name": "Project", "value": "Beats", "inline": true},
                    {"name": "Heartbeat", "value": "cron", "inline": true},
                    {"name": "Status", "value": "missing", "inline": true},
                ],
            }],
        })
    );
    assert_eq!(
        by_path["/teams"],
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": title},
                        {"type": "FactSet", "facts": [
                            {"title": "Project", "value": "Beats"},
                            {"title": "Heartbeat", "value": "cron"},
                            {"title": "Status", "value": "missing"},
                        ]},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "View heartbeat", "url": link}],
                },
            }],
        })
    );
    wait_for_outbox(&app, "status = 'delivered'", 3).await;

    // The heartbeat checks in again: one "recovered" message per channel, and no more
    // "missing" ones while it stays missing.
    miss_heartbeats(&app).await;
    let token = app
        .get(&format!("/api/projects/{project}/heartbeats/{heartbeat}"))
        .await
        .body["heartbeat"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .client
        .get(format!("{}/heartbeat/{token}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    slipway::services::heartbeats::flush(&app.app)
        .await
        .unwrap();
    for _ in 0..3 {
        let request = receiver.next().await;
        let text = request.body.to_string();
        assert!(text.contains("Heartbeat recovered: cron (Beats)"), "{text}");
    }
    wait_for_outbox(&app, "status = 'delivered'", 6).await;
    assert_eq!(
        count_rows(&app, "outbox", "event = 'heartbeat_missing'").await,
        3
    );
    assert!(receiver.waiting().await.is_empty());
}

async fn email_goes_through_smtp(backend: Backend) {
    let smtp = SmtpListener::start().await;
    let port = smtp.port.to_string();
    let app = spawn_app_with_flags(
        backend,
        0,
        &[
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "none",
            "--mail-from",
            "Slipway <deploys@example.com>",
        ],
    )
    .await;
    let (project, heartbeat) = project_with_heartbeat(&app).await;
    add_channel(
        &app,
        project,
        json!({"name": "Ops", "type": "email", "email_address": "ops@example.com"}),
    )
    .await;
    miss_heartbeats(&app).await;

    let mail = smtp.next().await;
    assert_eq!(mail.from, "<deploys@example.com>");
    assert_eq!(mail.to, ["<ops@example.com>"]);
    assert!(
        mail.data
            .contains("Subject: Heartbeat missing: cron (Beats)"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("To: ops@example.com"), "{}", mail.data);
    for line in [
        "Project: Beats",
        "Heartbeat: cron",
        "Status: missing",
        &format!(
            "View heartbeat: https://slipway.example.com/api/projects/{project}/heartbeats/{heartbeat}"
        ),
    ] {
        assert!(
            mail.data.contains(line),
            "{line} missing from {}",
            mail.data
        );
    }
    wait_for_outbox(&app, "status = 'delivered'", 1).await;
}

/// Without an SMTP server configured, e-mail channels show why nothing arrives.
async fn email_without_smtp_shows_the_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let (project, _) = project_with_heartbeat(&app).await;
    let channel = add_channel(
        &app,
        project,
        json!({"name": "Ops", "type": "email", "email_address": "ops@example.com"}),
    )
    .await;
    miss_heartbeats(&app).await;
    wait_for_outbox(&app, "attempts >= 1", 1).await;
    let shown = app
        .get(&format!("/api/projects/{project}/notifications/{channel}"))
        .await;
    assert_eq!(
        shown.body["notification"]["last_delivery_error"],
        "e-mail is not set up: start Slipway with --smtp-host"
    );
    assert!(shown.body["notification"]["last_delivery_error_at"].is_string());
}

async fn failed_deliveries_are_retried(backend: Backend) {
    let app = spawn_app(backend).await;
    let receiver = HttpReceiver::start().await;
    receiver.answer(&[Answer::Status(500), Answer::Status(503)]);
    let (project, _) = project_with_heartbeat(&app).await;
    let channel = add_channel(
        &app,
        project,
        json!({"name": "Chat", "type": "slack", "slack_webhook": format!("{}/hook", receiver.url)}),
    )
    .await;
    miss_heartbeats(&app).await;

    let first = receiver.next().await;
    let second = receiver.next().await;
    let third = receiver.next().await;
    assert_eq!(first.body, second.body);
    assert_eq!(second.body, third.body);
    wait_for_outbox(&app, "status = 'delivered' AND attempts = 3", 1).await;
    let shown = app
        .get(&format!("/api/projects/{project}/notifications/{channel}"))
        .await;
    assert_eq!(
        shown.body["notification"]["last_delivery_error"],
        Value::Null,
        "a later success clears the error"
    );

    // Failing again: the error shows, without the web hook's URL.
    receiver.answer(&[Answer::Status(404); 20]);
    execute_sql(&app, "UPDATE heartbeats SET status = 'healthy'").await;
    miss_heartbeats(&app).await;
    receiver.next().await;
    wait_for_outbox(&app, "status = 'pending' AND attempts >= 1", 1).await;
    let shown = app
        .get(&format!("/api/projects/{project}/notifications/{channel}"))
        .await;
    let error = shown.body["notification"]["last_delivery_error"]
        .as_str()
        .unwrap();
    assert!(error.starts_with("the web hook answered 404"), "{error}");
    assert!(!error.contains(&receiver.url));
}

async fn messages_survive_a_restart(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let receiver = HttpReceiver::start().await;
    let (project, _) = project_with_heartbeat(&app).await;
    add_channel(
        &app,
        project,
        json!({"name": "Chat", "type": "discord", "discord_webhook": format!("{}/hook", receiver.url)}),
    )
    .await;
    // Stored while nothing runs to deliver it, as if Slipway stopped right after.
    app.stop().await;
    miss_heartbeats(&app).await;
    assert_eq!(
        count_rows(&app, "outbox", "status = 'pending' AND attempts = 0").await,
        1
    );
    // Delivered after the restart, through one failure.
    receiver.answer(&[Answer::Status(502)]);
    app.restart().await;
    receiver.next().await;
    let delivered = receiver.next().await;
    assert!(
        delivered.body.to_string().contains("Heartbeat missing"),
        "{}",
        delivered.body
    );
    wait_for_outbox(&app, "status = 'delivered' AND attempts = 2", 1).await;
}

async fn inactive_channels_are_skipped(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let receiver = HttpReceiver::start().await;
    let (project, _) = project_with_heartbeat(&app).await;
    add_channel(
        &app,
        project,
        json!({"name": "Off", "type": "slack", "active": false, "slack_webhook": format!("{}/off", receiver.url)}),
    )
    .await;
    let on = add_channel(
        &app,
        project,
        json!({"name": "On", "type": "slack", "slack_webhook": format!("{}/on", receiver.url)}),
    )
    .await;
    app.stop().await;
    miss_heartbeats(&app).await;
    assert_eq!(
        count_rows(&app, "outbox", "1 = 1").await,
        1,
        "only the active channel"
    );
    // Switched off after the message was stored: it is not sent either.
    execute_sql(
        &app,
        &format!("UPDATE notifications SET active = FALSE WHERE id = {on}"),
    )
    .await;
    app.restart().await;
    wait_for_outbox(&app, "status = 'skipped'", 1).await;
    assert!(receiver.waiting().await.is_empty());
}

async fn private_addresses_are_refused(backend: Backend) {
    let app = spawn_app_with_flags(backend, 0, &["--allow-private-targets", "10.9.0.0/16"]).await;
    let project = app.project("Guarded").await;
    let path = format!("/api/projects/{project}/notifications");
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.10/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://10.10.0.1/hook",
    ] {
        let reply = app
            .post(
                &path,
                json!({"name": "x", "type": "slack", "slack_webhook": url}),
            )
            .await;
        assert_invalid(&reply, &["slack_webhook"]);
        assert_eq!(
            reply.body["errors"]["slack_webhook"][0],
            "The URL points to a loopback or private address.",
            "{url}"
        );
    }
    // The allowed network is allowed.
    let reply = app
        .post(
            &path,
            json!({"name": "ok", "type": "discord", "discord_webhook": "http://10.9.3.4/hook"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let channel = reply.body["notifications"][0]["id"].as_i64().unwrap();
    let reply = app
        .put(
            &format!("{path}/{channel}"),
            json!({"discord_webhook": "http://127.0.0.1/x"}),
        )
        .await;
    assert_invalid(&reply, &["discord_webhook"]);

    // Monitors too, on create and update.
    let reply = app
        .put(
            &format!("/api/projects/{project}"),
            json!({"monitor": "http://127.0.0.1:9/"}),
        )
        .await;
    assert_invalid(&reply, &["monitor"]);
    let reply = app
        .post(
            "/api/projects",
            json!({"name": "M", "provider": "github", "repository": "a/b", "monitor": "http://10.0.0.8/"}),
        )
        .await;
    assert_invalid(&reply, &["monitor"]);
    assert_eq!(count_rows(&app, "projects", "1 = 1").await, 1);

    // A name that resolves to loopback only when sent (as after a DNS change) is refused
    // at send time, and the channel says so.
    let sealed = app.app.vault.seal_str("http://localhost:9/hook");
    execute_sql(
        &app,
        &format!("UPDATE notifications SET address_sealed = '{sealed}' WHERE id = {channel}"),
    )
    .await;
    app.post(
        &format!("/api/projects/{project}/heartbeats"),
        json!({"name": "cron", "interval": 10}),
    )
    .await;
    miss_heartbeats(&app).await;
    wait_for_outbox(&app, "attempts >= 1", 1).await;
    let error =
        app.get(&format!("{path}/{channel}")).await.body["notification"]["last_delivery_error"]
            .clone();
    assert!(error.as_str().unwrap().contains("not allowed"), "{error}");
}

on_both_databases!(
    each_chat_service_gets_its_own_format,
    email_goes_through_smtp,
    email_without_smtp_shows_the_error,
    failed_deliveries_are_retried,
    messages_survive_a_restart,
    inactive_channels_are_skipped,
    private_addresses_are_refused,
);
