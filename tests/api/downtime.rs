//! Zero downtime: a web server keeps serving `current/public` while 20 deployments switch it,
//! and every single answer comes whole from one release or another.

use serde_json::json;

use crate::fleet::{Fleet, Visitor, serve_site};
use crate::helpers::*;

/// Commits release `round`: a page and a stamp that say which release they belong to.
fn commit_release(fleet: &Fleet, round: u32) {
    fleet.repo.commit(
        &[
            ("public/index.html", &format!("release {round}\n")),
            ("public/stamp.txt", &format!("{round}\n")),
        ],
        &format!("Release {round}"),
        "Eve",
        "eve@example.com",
    );
}

async fn twenty_deployments_without_a_failed_request(backend: Backend) {
    let fleet = Fleet::new(
        backend,
        1,
        json!({"type": "other", "retain_deployments": 3}),
    )
    .await;
    commit_release(&fleet, 0);
    assert_eq!(fleet.deploy(json!({})).await["status"], "finished");

    let address = serve_site(fleet.path(0)).await;

    let visitor = Visitor::start(address);
    for round in 1..=20 {
        commit_release(&fleet, round);
        let deployment = fleet.deploy(json!({})).await;
        assert_eq!(deployment["status"], "finished", "{deployment}");
    }
    let (answers, versions) = visitor.stop().await;
    assert!(answers > 100, "only {answers} requests were made");
    assert!(
        versions.len() >= 10,
        "the site did not follow the deployments: {versions:?}"
    );
    assert!(versions.contains(&20));
}

/// Rollbacks switch as deployments do: ten of them back and forth, and not one failed request.
async fn ten_rollbacks_without_a_failed_request(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    for round in 1..=2 {
        commit_release(&fleet, round);
        assert_eq!(fleet.deploy(json!({})).await["status"], "finished");
    }
    let visitor = Visitor::start(serve_site(fleet.path(0)).await);
    for round in 0..10 {
        let rollback = fleet.rolled_back(json!({})).await;
        assert_eq!(rollback["status"], "finished", "{rollback}");
        let expected = if round % 2 == 0 {
            "Release 1"
        } else {
            "Release 2"
        };
        assert_eq!(rollback["commit_message"], expected);
    }
    let (answers, versions) = visitor.stop().await;
    assert!(answers > 50, "only {answers} requests were made");
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), [1, 2]);
}

on_both_databases!(
    twenty_deployments_without_a_failed_request,
    ten_rollbacks_without_a_failed_request
);
