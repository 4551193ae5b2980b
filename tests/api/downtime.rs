//! Zero downtime: a web server keeps serving `current/public` while 20 deployments switch it,
//! and every single answer comes whole from one release or another.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::fleet::Fleet;
use crate::helpers::*;

/// Serves `{base}/current/public`, resolving `current` once per request (as nginx does with
/// `$realpath_root` in front of PHP-FPM), so each answer comes from one release.
async fn site(State(base): State<Arc<std::path::PathBuf>>) -> (StatusCode, String) {
    let Ok(release) = tokio::fs::canonicalize(base.join("current")).await else {
        return (StatusCode::NOT_FOUND, String::new());
    };
    let page = release.join("public/index.html");
    let stamp = release.join("public/stamp.txt");
    match (
        tokio::fs::read_to_string(&page).await,
        tokio::fs::read_to_string(&stamp).await,
    ) {
        (Ok(page), Ok(stamp)) => (StatusCode::OK, format!("{page}|{stamp}")),
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

async fn twenty_deployments_without_a_failed_request(backend: Backend) {
    let fleet = Fleet::new(
        backend,
        1,
        json!({"type": "other", "retain_deployments": 3}),
    )
    .await;
    fleet.repo.commit(
        &[
            ("public/index.html", "release 0\n"),
            ("public/stamp.txt", "0\n"),
        ],
        "Release 0",
        "Eve",
        "eve@example.com",
    );
    assert_eq!(fleet.deploy(json!({})).await["status"], "finished");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(site)
        .with_state(Arc::new(fleet.path(0).to_path_buf()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let done = Arc::new(AtomicBool::new(false));
    let visitor = {
        let done = done.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut answers, mut versions) = (0usize, std::collections::BTreeSet::new());
            while !done.load(Ordering::Relaxed) {
                let response = client.get(&address).send().await.expect("the site answers");
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                assert_eq!(status, 200, "a request failed during a deployment");
                // Both files come from the same, complete release.
                let (page, stamp) = body.split_once('|').unwrap();
                let version = page.trim().strip_prefix("release ").expect("a whole page");
                assert_eq!(version, stamp.trim(), "files of two releases were mixed");
                versions.insert(version.parse::<u32>().unwrap());
                answers += 1;
            }
            (answers, versions)
        })
    };
    for round in 1..=20 {
        fleet.repo.commit(
            &[
                ("public/index.html", &format!("release {round}\n")),
                ("public/stamp.txt", &format!("{round}\n")),
            ],
            &format!("Release {round}"),
            "Eve",
            "eve@example.com",
        );
        let deployment = fleet.deploy(json!({})).await;
        assert_eq!(deployment["status"], "finished", "{deployment}");
    }
    done.store(true, Ordering::Relaxed);
    let (answers, versions) = visitor.await.expect("no request failed");
    assert!(answers > 100, "only {answers} requests were made");
    assert!(
        versions.len() >= 10,
        "the site did not follow the deployments: {versions:?}"
    );
    assert!(versions.contains(&20));
}

on_both_databases!(twenty_deployments_without_a_failed_request);
