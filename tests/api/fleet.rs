//! A project deployed from a real git repository to servers behind a real sshd: the fixture
//! of the deployment tests.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

use crate::gitrepo::GitRepo;
use crate::helpers::*;
use crate::receivers::HttpReceiver;
use crate::sshd::{DEPLOY_USER, HOOK_USER, Sshd};

pub struct Fleet {
    pub app: TestApp,
    pub sshd: Sshd,
    pub repo: GitRepo,
    pub project: i64,
    /// Each server's id and deployment path.
    pub servers: Vec<(i64, PathBuf)>,
    root: tempfile::TempDir,
}

/// See [`Fleet::add_gate`].
pub struct Gate(PathBuf);

impl Gate {
    pub fn open(&self) {
        std::fs::write(self.0.join("open"), "").unwrap();
    }
}

/// A directory anyone may write to (for hooks running as another user to leave traces in).
pub fn shared_dir(parent: &Path, name: &str) -> PathBuf {
    let path = parent.join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    path
}

impl Fleet {
    /// A project of `project_type` deploying `main` of a fresh repository to `servers` servers.
    pub async fn new(backend: Backend, servers: usize, project: Value) -> Fleet {
        Fleet::on(spawn_app(backend).await, servers, project).await
    }

    /// The same, on a server already running.
    pub async fn on(app: TestApp, servers: usize, project: Value) -> Fleet {
        let sshd = Sshd::start().await;
        let repo = GitRepo::new(&[
            ("public/index.html", "<h1>one</h1>\n"),
            ("storage/app/.gitignore", "*\n"),
            ("README.md", "A test site\n"),
        ]);
        let mut body = json!({
            "name": "Site", "provider": "custom", "repository": repo.url(), "branch": "main",
            "type": "laravel-5", "composer": false,
        });
        for (key, value) in project.as_object().unwrap() {
            body[key] = value.clone();
        }
        let reply = app.post("/api/projects", body).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let project = reply.body["project"]["id"].as_i64().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut fleet = Fleet {
            app,
            sshd,
            repo,
            project,
            servers: Vec::new(),
            root,
        };
        for index in 1..=servers {
            fleet
                .add_server(&format!("server-{index}"), json!({}))
                .await;
        }
        fleet
    }

    /// Adds a server whose deployment path the deploy user owns; `extra` overrides fields.
    pub async fn add_server(&mut self, name: &str, extra: Value) -> i64 {
        let path = self.root.path().join(name);
        let mut body = json!({
            "name": name, "connectAs": DEPLOY_USER, "host": "127.0.0.1", "port": self.sshd.port,
            "phpVersion": "php83", "deploymentPath": path.display().to_string(),
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let reply = self
            .app
            .post(&format!("/api/projects/{}/servers", self.project), body)
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let server = &reply.body["server"];
        let key = server["public_key"].as_str().unwrap();
        self.sshd.authorize(DEPLOY_USER, key);
        self.sshd.authorize(HOOK_USER, key);
        std::fs::create_dir_all(&path).unwrap();
        let status = std::process::Command::new("chown")
            .arg(format!("{DEPLOY_USER}:{DEPLOY_USER}"))
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let id = server["id"].as_i64().unwrap();
        self.servers.push((id, path));
        id
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn path(&self, server: usize) -> &Path {
        &self.servers[server].1
    }

    /// Queues a deployment; answers its id.
    pub async fn start(&self, body: Value) -> i64 {
        let reply = self
            .app
            .post(&format!("/api/projects/{}/deployments", self.project), body)
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(matches!(
            reply.body["deployment"]["status"].as_str(),
            Some("pending" | "running")
        ));
        reply.body["deployment"]["id"].as_i64().unwrap()
    }

    /// Commits a new `public/index.html` saying `text`; answers the commit.
    pub fn commit_page(&self, text: &str) -> String {
        self.repo.commit(
            &[("public/index.html", &format!("<h1>{text}</h1>\n"))],
            &format!("Page {text}"),
            "Eve",
            "eve@example.com",
        )
    }

    /// Deploys and answers the new release's name, failing the test unless it finished.
    pub async fn deploy_release(&self) -> String {
        let deployment = self.deploy(json!({})).await;
        assert_eq!(deployment["status"], "finished", "{deployment}");
        deployment["release"].as_str().unwrap().to_owned()
    }

    /// Adds a Slack channel pointing at a receiver of the test's own.
    pub async fn chat(&self) -> HttpReceiver {
        let receiver = HttpReceiver::start().await;
        let reply = self
            .request(
                Method::POST,
                "/notifications",
                json!({"name": "Chat", "type": "slack", "slack_webhook": format!("{}/hook", receiver.url)}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        receiver
    }

    /// Follows the deployment's event stream until `done` says so after an event (or the
    /// stream ends); fails the test after two minutes.
    pub async fn follow(&self, deployment: i64, mut done: impl AsyncFnMut(&str) -> bool) -> String {
        let url = format!(
            "{}/api/projects/{}/deployments/{deployment}/stream",
            self.app.address, self.project
        );
        let follow = async {
            let mut response = self
                .app
                .client
                .get(url)
                .bearer_auth(&self.app.token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            let mut text = String::new();
            while let Some(chunk) = response.chunk().await.unwrap() {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if done(&text).await {
                    break;
                }
            }
            text
        };
        tokio::time::timeout(Duration::from_secs(120), follow)
            .await
            .expect("the deployment moves on within two minutes")
    }

    /// Follows the deployment until it ends; answers the deployment's record.
    pub async fn wait(&self, deployment: i64) -> Value {
        let events = self
            .follow(deployment, async |text: &str| text.contains("event: end"))
            .await;
        assert!(events.contains("event: end"), "{events}");
        self.record(deployment).await
    }

    pub async fn record(&self, deployment: i64) -> Value {
        let path = format!("/api/projects/{}/deployments/{deployment}", self.project);
        self.app.get(&path).await.body["deployment"].clone()
    }

    /// Follows the deployment until a process named `name` has `status`.
    pub async fn wait_for_process(&self, deployment: i64, name: &str, status: &str) {
        let mut reached = false;
        self.follow(deployment, async |_: &str| {
            let record = self.record(deployment).await;
            reached = record["processes"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|p| p["name"] == name && p["status"] == status)
            });
            reached
        })
        .await;
        assert!(reached, "the deployment ended before {name} was {status}");
    }

    /// Asks for a rollback; answers the reply (200 with the rollback's record, or an error).
    pub async fn roll_back(&self, body: Value) -> Reply {
        self.request(Method::POST, "/rollback", body).await
    }

    /// Rolls back and follows the rollback until it ends; answers its record.
    pub async fn rolled_back(&self, body: Value) -> Value {
        let reply = self.roll_back(body).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["deployment"]["kind"], "rollback", "{reply:?}");
        self.wait(reply.body["deployment"]["id"].as_i64().unwrap())
            .await
    }

    /// The release records of the production environment, newest first.
    pub async fn release_records(&self) -> Vec<Value> {
        let reply = self.request(Method::GET, "/releases", json!({})).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["releases"].as_array().unwrap().clone()
    }

    pub async fn deploy(&self, body: Value) -> Value {
        let id = self.start(body).await;
        self.wait(id).await
    }

    /// Where `current` points on a server, as a release name.
    pub fn current(&self, server: usize) -> Option<String> {
        std::fs::read_link(self.path(server).join("current"))
            .ok()
            .map(|target| target.file_name().unwrap().to_string_lossy().into_owned())
    }

    pub fn releases(&self, server: usize) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(server).join("releases"))
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A hook after Clone New Release, named "Gate", that waits until the test opens it:
    /// it holds a deployment running, so that later ones stay queued.
    pub async fn add_gate(&self) -> Gate {
        let dir = shared_dir(self.root(), "gate");
        self.hook(json!({
            "name": "Gate", "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": format!("while [ ! -f {}/open ]; do sleep 0.05; done", dir.display()),
        }))
        .await;
        Gate(dir)
    }

    pub async fn hook(&self, body: Value) -> i64 {
        let reply = self
            .app
            .post(&format!("/api/projects/{}/hooks", self.project), body)
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["hook"]["id"].as_i64().unwrap()
    }

    pub async fn request(&self, method: Method, path: &str, body: Value) -> Reply {
        self.app
            .request(
                method,
                &format!("/api/projects/{}{path}", self.project),
                Some(&self.app.token),
                Body::Json(body),
            )
            .await
    }
}

/// The names of a deployment record's processes, in order.
pub fn step_names(deployment: &Value) -> Vec<&str> {
    deployment["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

/// Serves `{base}/current/public` on a fresh loopback port and answers its URL. `current` is
/// resolved once per request (as nginx does with `$realpath_root` in front of PHP-FPM), so
/// each answer comes from one release: `index.html|stamp.txt`. A page that says "broken"
/// answers 500, as a broken release would.
pub async fn serve_site(base: &Path) -> String {
    async fn site(State(base): State<Arc<PathBuf>>) -> (StatusCode, String) {
        // As a web server does: resolve `current` and read the release's files at once (one
        // blocking call, so that a busy test runtime cannot stall the visitor between them
        // for long enough that retention purges the release it resolved).
        let read = tokio::task::spawn_blocking(move || {
            let release = std::fs::canonicalize(base.join("current")).ok()?;
            let page = std::fs::read_to_string(release.join("public/index.html"));
            let stamp = std::fs::read_to_string(release.join("public/stamp.txt"));
            Some((page, stamp))
        });
        let Some((page, stamp)) = read.await.unwrap() else {
            return (StatusCode::NOT_FOUND, String::new());
        };
        match (page, stamp) {
            (Ok(page), _) if page.contains("broken") => (StatusCode::INTERNAL_SERVER_ERROR, page),
            (Ok(page), Ok(stamp)) => (StatusCode::OK, format!("{page}|{stamp}")),
            (Ok(page), Err(_)) => (StatusCode::OK, page),
            _ => (StatusCode::NOT_FOUND, String::new()),
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(site)
        .with_state(Arc::new(base.to_path_buf()));
    beside().spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, router).await.unwrap()
    });
    address
}

/// The runtime the site and its visitor run on, apart from the test's own, where Slipway
/// runs: as in production, the web server and its visitors do not share Slipway's threads.
fn beside() -> &'static tokio::runtime::Runtime {
    static BESIDE: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    BESIDE.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("site")
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A client reading a site served by [`serve_site`] without pause, failing on any answer that
/// is not a whole page of one release (`release N` in index.html and `N` in stamp.txt).
pub struct Visitor {
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, BTreeSet<u32>)>,
}

impl Visitor {
    pub fn start(address: String) -> Visitor {
        let done = Arc::new(AtomicBool::new(false));
        let task = {
            let done = done.clone();
            beside().spawn(async move {
                let client = reqwest::Client::new();
                let (mut answers, mut versions) = (0usize, BTreeSet::new());
                while !done.load(Ordering::Relaxed) {
                    let response = client.get(&address).send().await.expect("the site answers");
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap();
                    assert_eq!(status, 200, "a request failed during a switch");
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
        Visitor { done, task }
    }

    /// Stops reading; answers how many pages were read and which releases they came from.
    pub async fn stop(self) -> (usize, BTreeSet<u32>) {
        self.done.store(true, Ordering::Relaxed);
        self.task.await.expect("no request failed")
    }
}

/// Fails unless no process runs whose command line is exactly `command` (the shells around a
/// hook quote its text in theirs, so only an exact match is the hook itself).
pub fn assert_stopped(command: &str) {
    let found = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{command}$")])
        .output()
        .unwrap();
    assert!(found.stdout.is_empty(), "`{command}` is still running");
}
