use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn invite_accept_and_remove(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shared").await;
    let james = app.token_for("james@example.com", "*").await;
    let path = format!("/api/projects/{project}/collaborators");

    let reply = app.post(&path, json!({"email": "james@example.com"})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let list = reply.body["collaborators"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_shape(&list[0], &example("collaborator"));
    assert_eq!(list[0]["email"], "james@example.com");
    assert_eq!(list[0]["pivot"]["status"], "invited");
    assert_eq!(list[0]["pivot"]["project_id"], project);
    let james_id = list[0]["id"].as_i64().unwrap();
    assert_eq!(list[0]["pivot"]["collaborator_id"], james_id);

    // Invited is not yet a collaborator: the project stays invisible.
    assert_not_found(
        &app.request(
            Method::GET,
            &format!("/api/projects/{project}"),
            Some(&james),
            Body::None,
        )
        .await,
    );
    let mine = app
        .request(Method::GET, "/api/projects", Some(&james), Body::None)
        .await;
    assert_eq!(mine.body["projects"], json!([]));

    // Accepting changes what a token can see, so it needs the collaborators:create scope.
    let read_only = app.token_for("james@example.com", "").await;
    let refused = app
        .request(
            Method::POST,
            &format!("{path}/accept"),
            Some(&read_only),
            Body::None,
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        refused.body,
        json!({"message": "This action is unauthorized.", "missing_scope": "collaborators:create"})
    );
    let still_hidden = app
        .request(
            Method::GET,
            &format!("/api/projects/{project}"),
            Some(&james),
            Body::None,
        )
        .await;
    assert_not_found(&still_hidden);
    let accepted = app
        .request(
            Method::POST,
            &format!("{path}/accept"),
            Some(&james),
            Body::None,
        )
        .await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.body["collaborator"]["pivot"]["status"], "accepted");
    let seen = app
        .request(
            Method::GET,
            &format!("/api/projects/{project}"),
            Some(&james),
            Body::None,
        )
        .await;
    assert_eq!(seen.body["project"]["name"], "Shared");
    let mine = app
        .request(Method::GET, "/api/projects", Some(&james), Body::None)
        .await;
    assert_eq!(mine.body["projects"].as_array().unwrap().len(), 1);

    // A collaborator works on the project but cannot delete it or manage collaborators.
    let server = app
        .request(Method::POST, &format!("/api/projects/{project}/servers"), Some(&james),
            Body::Json(json!({"name": "theirs", "connectAs": "forge", "host": "h.com", "phpVersion": "php81"})))
        .await;
    assert_eq!(server.status, 200);
    assert_eq!(
        server.body["server"]["user_id"], 1,
        "servers belong to the project's owner"
    );
    assert_forbidden(
        &app.request(
            Method::DELETE,
            &format!("/api/projects/{project}"),
            Some(&james),
            Body::None,
        )
        .await,
    );
    assert_forbidden(
        &app.request(
            Method::POST,
            &path,
            Some(&james),
            Body::Json(json!({"email": "admin@slipway.local"})),
        )
        .await,
    );
    assert_forbidden(
        &app.request(
            Method::DELETE,
            &path,
            Some(&james),
            Body::Json(json!({"email": "james@example.com"})),
        )
        .await,
    );

    let one = app.get(&format!("{path}/{james_id}")).await;
    assert_eq!(one.body["collaborator"]["email"], "james@example.com");
    assert_shape(&one.body["collaborator"], &example("collaborator"));

    let removed = app
        .delete(&path, json!({"email": "james@example.com"}))
        .await;
    assert_eq!((removed.status, removed.text.as_str()), (200, ""));
    assert_not_found(
        &app.request(
            Method::GET,
            &format!("/api/projects/{project}"),
            Some(&james),
            Body::None,
        )
        .await,
    );
    assert_not_found(&app.get(&format!("{path}/{james_id}")).await);
    assert_not_found(
        &app.delete(&path, json!({"email": "james@example.com"}))
            .await,
    );
}

async fn invitations_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shared").await;
    let path = format!("/api/projects/{project}/collaborators");
    assert_invalid(&app.post(&path, json!({})).await, &["email"]);
    assert_invalid(
        &app.post(&path, json!({"email": "not-an-email"})).await,
        &["email"],
    );
    assert_invalid(
        &app.post(&path, json!({"email": "nobody@example.com"}))
            .await,
        &["email"],
    );
    assert_invalid(
        &app.post(&path, json!({"email": "admin@slipway.local"}))
            .await,
        &["email"],
    );
    assert_eq!(app.get(&path).await.body, json!({"collaborators": []}));

    // Accepting without an invitation reveals nothing.
    let stranger = app.token_for("stranger@example.com", "*").await;
    assert_not_found(
        &app.request(
            Method::POST,
            &format!("{path}/accept"),
            Some(&stranger),
            Body::None,
        )
        .await,
    );
}

on_both_databases!(invite_accept_and_remove, invitations_are_validated);
