//! Memory under hostile load: request bodies wait for their share of a budget; requests
//! without one never wait.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_wait_for_the_budget_and_requests_without_one_never_do() {
    let app = spawn_app(Backend::Sqlite).await;
    let budget = &app.app.request_bodies;
    let held = budget
        .acquire_many(budget.available_permits() as u32)
        .await
        .unwrap();
    let post = app
        .client
        .post(format!("{}/api/projects", app.address))
        .bearer_auth(&app.token)
        .json(&json!({"name": "Waits", "provider": "github", "repository": "team/app"}))
        .send();
    tokio::pin!(post);
    // With the budget spent, the body waits; a request without one is answered meanwhile.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut post)
            .await
            .is_err(),
        "a body went past a spent budget"
    );
    assert_eq!(app.get("/api/projects").await.status, 200);
    drop(held);
    let answered = post.await.unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(
        budget.available_permits(),
        slipway::memory::BODY_BUDGET / (64 * 1024),
        "every share is given back"
    );
}
