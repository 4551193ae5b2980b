//! What an operator scrapes: this node's counters and histograms in the Prometheus (OpenMetrics)
//! text format, served on their own address (`--metrics-listen`) so that they are never on the
//! public port.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::domain::deployment::{DeploymentKind, DeploymentStatus, ProcessStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    kind: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HealthLabels {
    region: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// Durations from 10 ms to about 2.7 hours.
fn long_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.01, 2.0, 20)
}

/// Durations from 0.1 ms to about 6.5 s.
fn short_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 17)
}

/// This node's metrics.
pub struct Metrics {
    registry: Registry,
    deployments_started: Family<KindLabels, Counter>,
    deployments_ended: Family<EndLabels, Counter>,
    deployment_seconds: Family<EndLabels, Histogram>,
    deployments_running: Gauge,
    queued_deployments: Gauge,
    http_requests: Family<RequestLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram>,
    check_ins: Counter,
    outbox_backlog: Gauge,
    step_seconds: Family<StatusLabels, Histogram>,
    ssh_connect_seconds: Family<OutcomeLabels, Histogram>,
    heartbeats_missed: Counter,
    health_checks: Family<HealthLabels, Counter>,
    delivery_failures: Family<ChannelLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slipway");
        let deployments_started = Family::<KindLabels, Counter>::default();
        registry.register(
            "deployments_started",
            "Deployments this node started, by kind (deploy, rollback, stop)",
            deployments_started.clone(),
        );
        let deployments_ended = Family::<EndLabels, Counter>::default();
        registry.register(
            "deployments_ended",
            "Deployments this node ended, by kind and final status",
            deployments_ended.clone(),
        );
        let deployment_seconds =
            Family::<EndLabels, Histogram>::new_with_constructor(|| Histogram::new(long_buckets()));
        registry.register(
            "deployment_duration_seconds",
            "How long this node's deployments ran, by kind and final status",
            deployment_seconds.clone(),
        );
        let deployments_running = Gauge::default();
        registry.register(
            "deployments_running",
            "Deployments running on this node now",
            deployments_running.clone(),
        );
        let queued_deployments = Gauge::default();
        registry.register(
            "deployments_queued",
            "Deployments waiting to start, across all nodes",
            queued_deployments.clone(),
        );
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(short_buckets())
        });
        registry.register(
            "http_request_duration_seconds",
            "How long HTTP requests took to answer, by route template and method",
            http_seconds.clone(),
        );
        let check_ins = Counter::default();
        registry.register(
            "heartbeat_check_ins",
            "Heartbeat check-ins received",
            check_ins.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Notifications stored and not yet delivered, across all nodes",
            outbox_backlog.clone(),
        );
        let step_seconds = Family::<StatusLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(long_buckets())
        });
        registry.register(
            "step_duration_seconds",
            "How long one step of a deployment ran on one server, by its final status",
            step_seconds.clone(),
        );
        let ssh_connect_seconds = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(long_buckets())
        });
        registry.register(
            "ssh_connect_seconds",
            "How long SSH connections to servers took to open, or to fail (outcome)",
            ssh_connect_seconds.clone(),
        );
        let heartbeats_missed = Counter::default();
        registry.register(
            "heartbeats_missed",
            "Heartbeats found missing by this node's sweep",
            heartbeats_missed.clone(),
        );
        let health_checks = Family::<HealthLabels, Counter>::default();
        registry.register(
            "health_checks",
            "Health checks of monitor URLs, by region and result (healthy, failing)",
            health_checks.clone(),
        );
        let delivery_failures = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "notification_delivery_failures",
            "Notification deliveries that failed, by channel type",
            delivery_failures.clone(),
        );
        Metrics {
            registry,
            step_seconds,
            ssh_connect_seconds,
            heartbeats_missed,
            health_checks,
            delivery_failures,
            deployments_started,
            deployments_ended,
            deployment_seconds,
            deployments_running,
            queued_deployments,
            http_requests,
            http_seconds,
            check_ins,
            outbox_backlog,
        }
    }
}

impl Metrics {
    pub fn deployment_started(&self, kind: DeploymentKind) {
        self.deployments_started
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
        self.deployments_running.inc();
    }

    /// A deployment this node ran is over: ended with `status`, or given up on without its
    /// end recorded (`None`; the sweep ends it).
    pub fn deployment_ended(
        &self,
        kind: DeploymentKind,
        status: Option<DeploymentStatus>,
        took: Duration,
    ) {
        self.deployments_running.dec();
        let Some(status) = status else { return };
        let labels = EndLabels {
            kind: kind.as_str(),
            status: status.as_str(),
        };
        self.deployments_ended.get_or_create(&labels).inc();
        self.deployment_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn checked_in(&self) {
        self.check_ins.inc();
    }

    pub fn step_ended(&self, status: ProcessStatus, took: Duration) {
        self.step_seconds
            .get_or_create(&StatusLabels {
                status: status.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn ssh_connected(&self, succeeded: bool, took: Duration) {
        let outcome = if succeeded { "connected" } else { "failed" };
        self.ssh_connect_seconds
            .get_or_create(&OutcomeLabels { outcome })
            .observe(took.as_secs_f64());
    }

    pub fn heartbeats_missed(&self, count: usize) {
        self.heartbeats_missed.inc_by(count as u64);
    }

    pub fn health_checked(&self, region: &str, healthy: bool) {
        self.health_checks
            .get_or_create(&HealthLabels {
                region: region.to_owned(),
                status: if healthy { "healthy" } else { "failing" },
            })
            .inc();
    }

    pub fn delivery_failed(&self, channel: &str) {
        self.delivery_failures
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .inc();
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Counts and times each request under its route template (`/api/projects/{project}`), so
/// that ids never become labels.
pub async fn track_requests(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let metrics = &app.metrics;
    metrics
        .http_seconds
        .get_or_create(&RouteLabels {
            route: route.clone(),
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`, alone on the metrics address.
pub fn router(app: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(app)
}

async fn scrape(State(app): State<AppState>) -> Response {
    // What the database knows is read at scrape time: it is shared by every node.
    if let Ok((queued, backlog)) = crate::db::metrics::totals(&mut &app.store).await {
        app.metrics.queued_deployments.set(queued);
        app.metrics.outbox_backlog.set(backlog);
    }
    match app.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
