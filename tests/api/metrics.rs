//! `/metrics` as Prometheus reads it: parsed by the reference OpenMetrics parser, with counters that
//! move with a deployment, a request and a check-in.

use serde_json::json;

use crate::fleet::Fleet;
use crate::helpers::*;

/// Serves the app's metrics router on a fresh loopback port, as `--metrics-listen` does.
async fn metrics_address(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/metrics", listener.local_addr().unwrap());
    let router = slipway::metrics::router(app.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// The reference parser (Prometheus' own Python client) reads the OpenMetrics text.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"name": sample.name, "labels": sample.labels, "value": sample.value}))
"#;

/// One sample: name, labels, value.
struct Sample {
    name: String,
    labels: serde_json::Map<String, serde_json::Value>,
    value: f64,
}

async fn scrape(url: &str) -> Vec<Sample> {
    use std::io::Write;
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = response.text().await.unwrap();
    let parsed = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(python_tools().join("python"))
            .args(["-c", PARSE])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "not OpenMetrics text: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    })
    .await
    .unwrap();
    parsed
        .lines()
        .map(|line| {
            let sample: serde_json::Value = serde_json::from_str(line).unwrap();
            Sample {
                name: sample["name"].as_str().unwrap().to_owned(),
                labels: sample["labels"].as_object().unwrap().clone(),
                value: sample["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample named `name` whose labels include `labels` (0 when absent: a
/// labelled counter appears once it first moves).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && labels.iter().all(|(label, value)| {
                    sample.labels.get(*label).and_then(|v| v.as_str()) == Some(*value)
                })
        })
        .map_or(0.0, |sample| sample.value)
}

async fn counters_move_with_a_deployment(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({})).await;
    let url = metrics_address(&fleet.app).await;
    let before = scrape(&url).await;
    let finished = [("kind", "deploy"), ("status", "finished")];
    assert_eq!(
        value(&before, "slipway_deployments_ended_total", &finished),
        0.0
    );

    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    let heartbeat = fleet
        .app
        .post(
            &format!("/api/projects/{}/heartbeats", fleet.project),
            json!({"name": "Nightly", "interval": 1440}),
        )
        .await;
    let token = heartbeat.body["heartbeat"]["token"].as_str().unwrap();
    let checked_in = fleet
        .app
        .request(
            reqwest::Method::GET,
            &format!("/heartbeat/{token}"),
            None,
            Body::None,
        )
        .await;
    assert_eq!(checked_in.status, 200);

    let after = scrape(&url).await;
    assert_eq!(
        value(
            &after,
            "slipway_deployments_started_total",
            &[("kind", "deploy")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "slipway_deployments_ended_total", &finished),
        1.0
    );
    assert_eq!(value(&after, "slipway_deployments_running", &[]), 0.0);
    // Each step on the server, and the SSH connection it went over, were timed.
    let finished_steps = deployment["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "finished")
        .count();
    assert!(finished_steps > 0, "{deployment}");
    assert_eq!(
        value(
            &after,
            "slipway_step_duration_seconds_count",
            &[("status", "finished")]
        ),
        finished_steps as f64
    );
    assert!(
        value(
            &after,
            "slipway_ssh_connect_seconds_count",
            &[("outcome", "connected")]
        ) >= 1.0
    );
    assert_eq!(value(&after, "slipway_deployments_queued", &[]), 0.0);
    assert_eq!(value(&after, "slipway_heartbeat_check_ins_total", &[]), 1.0);
    // Requests count under their route template, never under an id.
    let deploys = [
        ("route", "/api/projects/{project}/deployments"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(value(&after, "slipway_http_requests_total", &deploys), 1.0);
    assert!(
        !after.iter().any(|s| s
            .labels
            .get("route")
            .and_then(|r| r.as_str())
            .is_some_and(|r| r.contains("/1/"))),
        "an id in a route label"
    );
    assert_eq!(
        value(
            &after,
            "slipway_deployment_duration_seconds_count",
            &finished
        ),
        1.0
    );
}

on_both_databases!(counters_move_with_a_deployment);
