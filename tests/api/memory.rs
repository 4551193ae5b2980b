//! Memory under hostile load: large request bodies wait for their share of a budget; other
//! requests never wait.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_wait_for_the_budget_and_other_requests_never_do() {
    let app = spawn_app(Backend::Sqlite).await;
    let budget = &app.app.request_bodies;
    let held = budget
        .acquire_many(budget.available_permits() as u32)
        .await
        .unwrap();
    let large = json!({"name": "x".repeat(100_000), "provider": "github", "repository": "a/b"});
    let post = app
        .client
        .post(format!("{}/api/projects", app.address))
        .bearer_auth(&app.token)
        .json(&large)
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
    let small = app
        .post(
            "/api/projects",
            json!({"name": "Small", "provider": "github", "repository": "team/app"}),
        )
        .await;
    assert_eq!(small.status, 200, "a small body does not wait: {small:?}");
    drop(held);
    let answered = post.await.unwrap();
    assert_eq!(answered.status(), 422, "answered once the budget has room");
    assert_eq!(
        budget.available_permits(),
        slipway::memory::BODY_BUDGET / slipway::memory::UNIT,
        "every share is given back"
    );
}
