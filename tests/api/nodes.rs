//! Several nodes on one PostgreSQL database, each the real binary in a process of its own,
//! deploying to the real sshd fleet: they share the work, take over a dead node's deployment,
//! rollback or environment stop, do periodic work once, and agree on time through the
//! database.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use slipway::app::App;
use slipway::config::Config;
use slipway::db::Db;

use crate::fleet::{Fleet, assert_stopped};
use crate::helpers::*;
use crate::receivers::HttpReceiver;

/// The nodes' lease: short, so that a takeover comes soon.
const LEASE_SECONDS: u64 = 6;

/// The binary the nodes run: the release build when `scripts/test` names it (what production
/// runs), else the one this test was built with.
fn binary() -> String {
    std::env::var("SLIPWAY_NODE_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_slipway").to_owned())
}

/// One `slipway serve` process.
struct Node {
    child: Child,
    address: String,
    /// Its name in leases.
    id: String,
    alive: bool,
    _data_dir: tempfile::TempDir,
}

impl Node {
    fn start(database_url: &str, key: &[u8], flags: &[&str]) -> Node {
        let data_dir = tempfile::tempdir().unwrap();
        // Every node unseals what the others stored: they share the master key.
        let key_path = data_dir.path().join("master.key");
        std::fs::write(&key_path, key).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut child = Command::new(binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("--local-repositories")
            .arg(std::env::temp_dir())
            .args(["--lease-seconds", &LEASE_SECONDS.to_string()])
            .args([
                "--rate-limit-per-minute",
                "0",
                "--notification-retry-ms",
                "50",
            ])
            .args(["--public-url", "https://slipway.example.com"])
            .args(["--allow-private-targets", "127.0.0.0/8"])
            .args(flags)
            .env("SLIPWAY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut address = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            eprintln!("[node] {line}");
            if line.contains("slipway listening")
                && let Some(rest) = line.split("address=").nth(1)
            {
                address = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
        let address = address.expect("the node logs the address it listens on");
        let id = std::fs::read_to_string(data_dir.path().join("node-id")).unwrap();
        // Its log goes on into the test's output (shown when the test fails).
        let prefix = id.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[{prefix}] {line}");
            }
        });
        Node {
            child,
            address: format!("http://{address}"),
            id,
            alive: true,
            _data_dir: data_dir,
        }
    }

    /// Kills the process as a crash would: no chance to clean up.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.alive = false;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nodes on one fresh database, and the test's own handle on that database.
struct Cluster {
    app: Arc<App>,
    token: String,
    database_url: String,
    key: Vec<u8>,
    nodes: Vec<Node>,
    _key_dir: tempfile::TempDir,
}

impl Cluster {
    /// One node per entry, started with those flags.
    async fn start(nodes: &[&[&str]]) -> Cluster {
        let database_url = fresh_postgres_database().await;
        let key_dir = tempfile::tempdir().unwrap();
        let config = Config::from_flags([
            "--data-dir",
            &key_dir.path().display().to_string(),
            "--database-url",
            &database_url,
        ])
        .unwrap();
        let app = Arc::new(App::start(config).await.unwrap());
        let (_, token) = slipway::services::accounts::bootstrap_admin(&app)
            .await
            .unwrap()
            .unwrap();
        let key = std::fs::read(key_dir.path().join("master.key")).unwrap();
        let mut cluster = Cluster {
            app,
            token: token.expose_secret().to_owned(),
            database_url,
            key,
            nodes: Vec::new(),
            _key_dir: key_dir,
        };
        for flags in nodes {
            cluster.add_node(flags);
        }
        cluster
    }

    fn add_node(&mut self, flags: &[&str]) {
        let node = Node::start(&self.database_url, &self.key, flags);
        self.nodes.push(node);
    }

    /// The API of node `index`, as a test app.
    fn api(&self, index: usize) -> TestApp {
        attached_app(
            self.app.clone(),
            self.nodes[index].address.clone(),
            self.token.clone(),
        )
    }

    /// Which node holds (or last held) a deployment's lease, by index.
    async fn owner(&self, deployment: i64) -> Option<usize> {
        let (owner,): (Option<String>,) = (&self.app.store)
            .fetch_one(
                "SELECT lease_owner FROM deployments WHERE id = $1",
                vec![slipway::db::Arg::Int(Some(deployment))],
            )
            .await
            .unwrap();
        let owner = owner?;
        self.nodes.iter().position(|node| node.id == owner)
    }

    async fn running(&self) -> i64 {
        let (count,): (i64,) = (&self.app.store)
            .fetch_one(
                "SELECT COUNT(*) FROM deployments WHERE status = 'running'",
                Vec::new(),
            )
            .await
            .unwrap();
        count
    }
}

/// Polls until `done` holds (two minutes at most).
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every server runs the process `name` of the deployment.
async fn wait_for_everywhere(fleet: &Fleet, deployment: i64, name: &str) {
    let servers = fleet.servers.len();
    wait_until(&format!("{name} runs on every server"), async || {
        let record = fleet.record(deployment).await;
        let running = record["processes"].as_array().map_or(0, |list| {
            list.iter()
                .filter(|p| p["name"] == name && p["status"] == "running")
                .count()
        });
        running == servers
    })
    .await;
}

/// A hook that runs `marker` (a `sleep` no other test runs) before or after an action.
async fn hold(fleet: &Fleet, name: &str, action: u8, timing: &str, marker: &str) -> i64 {
    fleet
        .hook(json!({"name": name, "runAs": "slipway-deploy", "actionId": action, "timing": timing, "script": marker}))
        .await
}

async fn unhook(fleet: &Fleet, hook: i64) {
    let reply = fleet
        .request(Method::DELETE, &format!("/hooks/{hook}"), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// Fails unless the next chat message says `text`.
async fn next_message_says(chat: &HttpReceiver, text: &str) {
    let message = chat.next().await.body.to_string();
    assert!(message.contains(text), "{message}");
}

/// Every server points at `release`, and keeps exactly `kept`.
fn assert_on_release(fleet: &Fleet, release: &str, kept: &[&str]) {
    for server in 0..fleet.servers.len() {
        assert_eq!(fleet.current(server).as_deref(), Some(release));
        assert_eq!(fleet.releases(server), kept, "server {server}");
    }
}

/// Kills the node holding `deployment` and follows the deployment through another one until
/// it ends; answers the record and how long after the kill it ended.
async fn kill_owner_and_wait(
    cluster: &mut Cluster,
    fleet: &mut Fleet,
    deployment: i64,
) -> (Value, Duration) {
    let owner = cluster.owner(deployment).await.expect("a node runs it");
    cluster.nodes[owner].kill();
    let killed = Instant::now();
    let survivor = cluster.nodes.iter().find(|node| node.alive).unwrap();
    fleet.app.address = survivor.address.clone();
    let ended = fleet.wait(deployment).await;
    let took = killed.elapsed();
    eprintln!("ended {took:?} after its node was killed (lease {LEASE_SECONDS} s)");
    let taker = cluster
        .owner(deployment)
        .await
        .expect("a node took it over");
    assert!(cluster.nodes[taker].alive, "a live node took it over");
    // The lease runs out at most LEASE_SECONDS after the kill and is looked for ten times per
    // lease; the clean-up is one SSH session per server. Twice the lease is a generous bound.
    assert!(
        took < Duration::from_secs(2 * LEASE_SECONDS + 10),
        "took over only after {took:?}"
    );
    assert_eq!(cluster.running().await, 0, "nothing stays running");
    (ended, took)
}

/// Starts a node with a master key of its own; answers what it said, failing unless it
/// refused to start.
fn refused_start(database_url: &str) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", database_url])
        .arg("--data-dir")
        .arg(data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_master_key_refuses_to_start() {
    let mut cluster = Cluster::start(&[&[]]).await;
    let said = refused_start(&cluster.database_url);
    let refusal = "master.key is not the key this database's secrets are sealed with";
    assert!(said.contains(refusal), "{said}");

    // An installation from before the check: its secrets tell, and the wrong key is not
    // taken for the check value.
    let api = cluster.api(0);
    api.project("Sealed").await;
    execute_sql(&api, "DELETE FROM settings").await;
    let said = refused_start(&cluster.database_url);
    assert!(said.contains(refusal), "{said}");
    assert_eq!(count_rows(&api, "settings", "TRUE").await, 0);
    cluster.add_node(&[]);
    assert_eq!(count_rows(&api, "settings", "name = 'key_check'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_of_two_projects_run_on_two_nodes_at_once() {
    // One deployment per node at a time: the second project's must go to the other node.
    let one = ["--max-deployments", "1"];
    let cluster = Cluster::start(&[&one, &one]).await;
    let first = Fleet::on(cluster.api(0), 1, json!({"name": "First"})).await;
    let mut second = Fleet::on(cluster.api(1), 1, json!({"name": "Second"})).await;
    let first_gate = first.add_gate().await;
    let second_gate = second.add_gate().await;

    let a = first.start(json!({})).await;
    first.wait_for_process(a, "Gate", "running").await;
    let b = second.start(json!({})).await;
    second.wait_for_process(b, "Gate", "running").await;
    // Both hold their gate at this moment, each on its own node.
    let owners = (cluster.owner(a).await, cluster.owner(b).await);
    assert!(
        matches!(owners, (Some(0), Some(1)) | (Some(1), Some(0))),
        "{owners:?}"
    );
    assert_eq!(cluster.running().await, 2);

    // A viewer on the node that does not run a deployment sees its steps as they are recorded.
    let elsewhere = cluster.owner(a).await.unwrap();
    second.app.address = cluster.nodes[elsewhere].address.clone();
    let seen = second
        .follow(b, async |text: &str| {
            text.contains("\"status\":\"running\"")
        })
        .await;
    assert!(
        seen.contains("event: output"),
        "finished steps' output: {seen}"
    );
    assert!(!seen.contains("event: end"), "{seen}");

    // A project never runs two: a second deployment of the first project waits, although
    // a node would be free once the second project's ends.
    let queued = first.start(json!({})).await;
    second_gate.open();
    assert_eq!(second.wait(b).await["status"], "finished");
    assert_eq!(first.record(queued).await["status"], "pending");
    first_gate.open();
    assert_eq!(first.wait(a).await["status"], "finished");
    assert_eq!(first.wait(queued).await["status"], "finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_s_deployment_is_taken_over_within_the_lease() {
    // Three nodes: one dies in each half.
    let mut cluster = Cluster::start(&[&[], &[], &[]]).await;
    let mut fleet = Fleet::on(cluster.api(0), 2, json!({})).await;
    let chat = fleet.chat().await;
    let r1 = fleet.deploy_release().await;
    next_message_says(&chat, "Deployment finished").await;

    // Killed in the middle of a step, on both servers, after the new release was unpacked.
    let marker = format!("sleep {}", 1200 + fleet.project * 7 + 2);
    let hook = hold(&fleet, "Hold", 1, "after", &marker).await;
    fleet.commit_page("two");
    let id = fleet.start(json!({})).await;
    wait_for_everywhere(&fleet, id, "Hold").await;
    assert_eq!(fleet.releases(0).len(), 2, "the new release is there");

    let (ended, _) = kill_owner_and_wait(&mut cluster, &mut fleet, id).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .contains("Slipway stopped while this deployment was running"),
        "{ended}"
    );
    assert_stopped(&marker);
    assert_on_release(&fleet, &r1, &[&r1]);
    let steps = ended["processes"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|p| p["status"] != "running" && p["status"] != "pending"),
        "{steps:?}"
    );

    // One notification of the failure, though two nodes had a hand in it.
    next_message_says(&chat, "Deployment failed").await;
    let filter = format!("message LIKE '%/deployments/{id}\"%'");
    assert_eq!(count_rows(&fleet.app, "outbox", &filter).await, 1);
    assert!(chat.waiting().await.is_empty());

    // The survivors deploy the next commit.
    unhook(&fleet, hook).await;
    fleet.commit_page("three");
    let r3 = fleet.deploy_release().await;
    assert_ne!(r3, r1);
    assert_on_release(&fleet, &r3, &[&r1, &r3]);
    next_message_says(&chat, "Deployment finished").await;

    // Killed after every server switched to the new release (and that was recorded): the
    // servers stay on it, and the deployment still ends with its reason.
    let marker = format!("sleep {}", 1250 + fleet.project * 7 + 2);
    let hook = hold(&fleet, "Warm", 3, "after", &marker).await;
    fleet.commit_page("four");
    let id = fleet.start(json!({})).await;
    wait_for_everywhere(&fleet, id, "Warm").await;
    let r4 = fleet.current(0).unwrap();
    assert_ne!(r4, r3);
    let (ended, _) = kill_owner_and_wait(&mut cluster, &mut fleet, id).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert_stopped(&marker);
    assert_on_release(&fleet, &r4, &[&r1, &r3, &r4]);
    next_message_says(&chat, "Deployment failed").await;
    unhook(&fleet, hook).await;
    fleet.commit_page("five");
    let r5 = fleet.deploy_release().await;
    assert_eq!(fleet.current(1).as_deref(), Some(r5.as_str()));
    next_message_says(&chat, "Deployment finished").await;
    assert!(chat.waiting().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_s_rollback_is_taken_over() {
    let mut cluster = Cluster::start(&[&[], &[]]).await;
    let mut fleet = Fleet::on(cluster.api(0), 2, json!({})).await;
    let r1 = fleet.deploy_release().await;
    fleet.commit_page("two");
    let r2 = fleet.deploy_release().await;

    // Killed while an Activate hook of the rollback runs, before any server switched.
    let marker = format!("sleep {}", 1300 + fleet.project * 7 + 2);
    let hook = hold(&fleet, "Hold", 3, "before", &marker).await;
    let reply = fleet.roll_back(json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let id = reply.body["deployment"]["id"].as_i64().unwrap();
    wait_for_everywhere(&fleet, id, "Hold").await;

    let (ended, _) = kill_owner_and_wait(&mut cluster, &mut fleet, id).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(
        ended["error"].as_str().unwrap().contains("rollback"),
        "{ended}"
    );
    assert_stopped(&marker);
    assert_on_release(&fleet, &r2, &[&r1, &r2]);
    let live: Vec<_> = fleet
        .release_records()
        .await
        .into_iter()
        .filter(|r| r["live"] == true)
        .collect();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["name"], r2.as_str());

    unhook(&fleet, hook).await;
    let back = fleet.rolled_back(json!({})).await;
    assert_eq!(back["status"], "finished", "{back}");
    assert_on_release(&fleet, &r1, &[&r1, &r2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_s_environment_stop_is_taken_over() {
    let mut cluster = Cluster::start(&[&[], &[]]).await;
    let mut fleet = Fleet::on(cluster.api(0), 0, json!({})).await;
    fleet
        .add_server("review-box", json!({"environment": "review/fix"}))
        .await;
    let review = fleet.deploy(json!({"environment": "review/fix"})).await;
    assert_eq!(review["status"], "finished", "{review}");

    let base = format!("/projects/{}/environments", fleet.project);
    let list = fleet
        .app
        .gitlab(
            Method::GET,
            &format!("{base}?name=review%2Ffix"),
            Some(&fleet.app.token),
            Body::None,
        )
        .await;
    let environment = list.body[0]["id"].as_i64().unwrap();
    let marker = format!("sleep {}", 1400 + fleet.project * 7 + 2);
    let path = format!("{base}/{environment}");
    let token = fleet.app.token.clone();
    let updated = fleet
        .app
        .gitlab(
            Method::PUT,
            &path,
            Some(&token),
            Body::Json(json!({"on_stop": marker})),
        )
        .await;
    assert_eq!(updated.status, 200, "{updated:?}");
    let stopping = fleet
        .app
        .gitlab(
            Method::POST,
            &format!("{path}/stop"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(stopping.body["state"], "stopping", "{stopping:?}");
    let runs = fleet
        .app
        .get(&format!("/api/projects/{}/deployments", fleet.project))
        .await;
    let teardown = runs.body["deployments"][0]["id"].as_i64().unwrap();
    wait_for_everywhere(&fleet, teardown, "Stop Environment").await;

    let (ended, _) = kill_owner_and_wait(&mut cluster, &mut fleet, teardown).await;
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(
        ended["error"].as_str().unwrap().contains("on_stop"),
        "{ended}"
    );
    assert_stopped(&marker);
    let shown = fleet
        .app
        .gitlab(Method::GET, &path, Some(&token), Body::None)
        .await;
    assert_eq!(shown.body["state"], "stopped", "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_runs_an_hour_ahead_steals_no_lease() {
    let mut cluster = Cluster::start(&[&["--max-deployments", "1"]]).await;
    let first = Fleet::on(cluster.api(0), 1, json!({"name": "First"})).await;
    let gate = first.add_gate().await;
    let held = first.start(json!({})).await;
    first.wait_for_process(held, "Gate", "running").await;

    // By its own clock, the first node's lease ran out long ago.
    cluster.add_node(&["--clock-offset-seconds", "3600"]);
    let second = Fleet::on(cluster.api(1), 1, json!({"name": "Second"})).await;
    // The new node looked for orphans before it took this deployment (the first node is full)
    // and several times while it ran.
    let ahead = second.deploy(json!({})).await;
    assert_eq!(ahead["status"], "finished", "{ahead}");
    assert_eq!(cluster.owner(ahead["id"].as_i64().unwrap()).await, Some(1));
    let created = ahead["created_at"].as_str().unwrap();
    let now = slipway::domain::time::Timestamp::now().envoyer();
    assert!(
        created[..13] > now[..13],
        "the node's clock runs ahead: created {created}, now {now}"
    );

    assert_eq!(cluster.owner(held).await, Some(0));
    let record = first.record(held).await;
    assert_eq!(record["status"], "running", "{record}");
    gate.open();
    assert_eq!(first.wait(held).await["status"], "finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_work_is_done_once_across_nodes() {
    let london = ["--region", "london", "--health-check-interval", "1"];
    let cluster = Cluster::start(&[&london, &london]).await;
    let api = cluster.api(0);
    let monitor = HttpReceiver::start().await;
    let chat = HttpReceiver::start().await;
    let project = api.project("Watched").await;
    let reply = api
        .put(
            &format!("/api/projects/{project}"),
            json!({"monitor": format!("{}/up", monitor.url)}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // Two nodes of one region check its monitors once per interval between them: six checks
    // take at least five intervals (they would take half that with each node checking).
    let mut seen = Vec::new();
    while seen.len() < 6 {
        seen.push(monitor.next().await.at);
    }
    let span = seen[5] - seen[0];
    assert!(
        span >= Duration::from_secs(4),
        "six checks within {span:?}: the nodes both checked"
    );

    // A heartbeat that went missing is announced once.
    let reply = api
        .post(
            &format!("/api/projects/{project}/notifications"),
            json!({"name": "Chat", "type": "slack", "slack_webhook": format!("{}/chat", chat.url)}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reply = api
        .post(
            &format!("/api/projects/{project}/heartbeats"),
            json!({"name": "cron", "interval": 10}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    execute_sql(
        &api,
        "UPDATE heartbeats SET last_checked_in_at = last_checked_in_at - 3600000000",
    )
    .await;
    next_message_says(&chat, "Heartbeat missing").await;
    assert_eq!(
        count_rows(&api, "outbox", "event = 'heartbeat_missing'").await,
        1
    );
    assert_eq!(
        count_rows(&api, "heartbeats", "status = 'missing'").await,
        1
    );
    assert!(chat.waiting().await.is_empty());
}
