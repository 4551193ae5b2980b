//! Push to deploy through provider web hooks.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::*;

fn sign(secret: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

struct Hooked {
    app: TestApp,
    project: i64,
    url: String,
    secret: String,
}

async fn hooked(backend: Backend) -> Hooked {
    let app = spawn_app(backend).await;
    let project = app.project("Pushed").await;
    app.server(project, "web").await;
    app.put(
        &format!("/api/projects/{project}/source"),
        json!({"push_to_deploy": true}),
    )
    .await;
    let token = app.get(&format!("/api/projects/{project}")).await.body["project"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .post(
            &format!("/api/projects/{project}/webhook-secret"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 40);
    let url = format!("{}/webhooks/{token}", app.address);
    Hooked {
        app,
        project,
        url,
        secret,
    }
}

async fn send(hooked: &Hooked, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut request = hooked
        .app
        .client
        .post(&hooked.url)
        .body(body.to_owned())
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn github_pushes_deploy_when_signed(backend: Backend) {
    let h = hooked(backend).await;
    let push = r#"{"ref":"refs/heads/main","after":"416d8ea11849050d3d1f5104cf8cf51053e790ab","deleted":false}"#;
    let (status, body) = send(
        &h,
        &[
            ("X-GitHub-Event", "push".into()),
            ("X-Hub-Signature-256", sign(&h.secret, push)),
        ],
        push,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["deployment"]["status"]
            .as_str()
            .map(|s| ["pending", "running"].contains(&s)),
        Some(true)
    );
    let deployments = h
        .app
        .get(&format!("/api/projects/{}/deployments", h.project))
        .await;
    assert_eq!(deployments.body["deployments"].as_array().unwrap().len(), 1);

    // A bad or missing signature is refused; nothing is queued.
    for signature in [Some(sign("wrong", push)), Some("sha256=00".into()), None] {
        let mut headers = vec![("X-GitHub-Event", "push".to_owned())];
        if let Some(signature) = signature {
            headers.push(("X-Hub-Signature-256", signature));
        }
        let (status, _) = send(&h, &headers, push).await;
        assert_eq!(status, 401);
    }
    // Other branches and events are answered and ignored.
    let other =
        r#"{"ref":"refs/heads/feature","after":"416d8ea11849050d3d1f5104cf8cf51053e790ab"}"#;
    let (status, body) = send(
        &h,
        &[
            ("X-GitHub-Event", "push".into()),
            ("X-Hub-Signature-256", sign(&h.secret, other)),
        ],
        other,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["message"].as_str().unwrap().contains("feature"),
        "{body}"
    );
    let ping = r#"{"zen":"hi"}"#;
    let (status, body) = send(
        &h,
        &[
            ("X-GitHub-Event", "ping".into()),
            ("X-Hub-Signature-256", sign(&h.secret, ping)),
        ],
        ping,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("The ping event was ignored."))
    );

    let dump = crate::projects::database_text(&h.app).await;
    assert!(
        !dump.contains(&h.secret),
        "the web hook secret is stored in plain text"
    );
}

async fn gitlab_and_bitbucket_pushes(backend: Backend) {
    let h = hooked(backend).await;
    let gitlab = r#"{"ref":"refs/heads/main","checkout_sha":"416d8ea1","after":"416d8ea11849050d3d1f5104cf8cf51053e790ab"}"#;
    let (status, body) = send(
        &h,
        &[
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Token", h.secret.clone()),
        ],
        gitlab,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["deployment"]["id"].is_i64());
    let (status, _) = send(
        &h,
        &[
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Token", "nope".into()),
        ],
        gitlab,
    )
    .await;
    assert_eq!(status, 401);

    let bitbucket = r#"{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"416d8ea1"}}}]}}"#;
    let (status, body) = send(
        &h,
        &[
            ("X-Event-Key", "repo:push".into()),
            ("X-Hub-Signature", sign(&h.secret, bitbucket)),
        ],
        bitbucket,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["deployment"]["id"].is_i64());

    // With push to deploy off, pushes are acknowledged and ignored.
    h.app
        .put(
            &format!("/api/projects/{}/source", h.project),
            json!({"push_to_deploy": false}),
        )
        .await;
    let (status, body) = send(
        &h,
        &[
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Token", h.secret.clone()),
        ],
        gitlab,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Push to deploy is off for this project."))
    );

    let unknown = h
        .app
        .client
        .post(format!("{}/webhooks/not-a-token", h.app.address))
        .header("X-GitHub-Event", "push")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let (status, _) = send(&h, &[], "{}").await;
    assert_eq!(status, 422, "no provider event header");
}

on_both_databases!(
    github_pushes_deploy_when_signed,
    gitlab_and_bitbucket_pushes
);
