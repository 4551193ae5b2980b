//! Test harness: the real router on 127.0.0.1:0 with a fresh database per test, driven over
//! HTTP.

use std::sync::Arc;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;
use slipway::app::App;
use slipway::config::Config;
use slipway::domain::scopes::Scopes;
use slipway::services::accounts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, one per database.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app: Arc<App>,
    config: Config,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A token with every scope, for the admin user (the owner of projects made by `project`).
    pub token: String,
    pub data_dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

/// A PostgreSQL database of its own for one test, created in the cluster that
/// `SLIPWAY_TEST_DATABASE_URL` names.
pub async fn fresh_postgres_database() -> String {
    let base = std::env::var("SLIPWAY_TEST_DATABASE_URL").expect(
        "SLIPWAY_TEST_DATABASE_URL is not set: run scripts/test, which starts PostgreSQL for the tests",
    );
    let name = format!(
        "slipway_test_{}",
        slipway::crypto::random_token(12).to_lowercase()
    );
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create a test database");
    pool.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    format!("{prefix}/{name}")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, 0).await
}

pub async fn spawn_app_with(backend: Backend, rate_limit_per_minute: u32) -> TestApp {
    spawn_app_with_flags(backend, rate_limit_per_minute, &[]).await
}

/// An app started with `serve` flags added to the tests' defaults.
pub async fn spawn_app_with_flags(
    backend: Backend,
    rate_limit_per_minute: u32,
    extra_flags: &[&str],
) -> TestApp {
    // What the app logs as a warning or an error shows in a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let mut flags = vec![
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--data-dir".to_owned(),
        data_dir.path().display().to_string(),
        "--local-repositories".to_owned(),
        std::env::temp_dir().display().to_string(),
        "--rate-limit-per-minute".to_owned(),
        rate_limit_per_minute.to_string(),
        "--notification-retry-ms".to_owned(),
        "50".to_owned(),
        "--public-url".to_owned(),
        "https://slipway.example.com".to_owned(),
    ];
    // The tests' receivers (chat web hooks, monitors) listen on loopback.
    if !extra_flags.contains(&"--allow-private-targets") {
        flags.extend([
            "--allow-private-targets".to_owned(),
            "127.0.0.0/8".to_owned(),
        ]);
    }
    if let Some(url) = database_url {
        flags.extend(["--database-url".to_owned(), url]);
    }
    flags.extend(extra_flags.iter().map(|f| f.to_string()));
    let config = Config::from_flags(flags).expect("valid test flags");
    let app = Arc::new(App::start(config.clone()).await.expect("start the app"));
    let (_, token) = accounts::bootstrap_admin(&app)
        .await
        .expect("bootstrap admin")
        .expect("empty database gets an admin");
    let (address, tasks) = serve(app.clone()).await;
    TestApp {
        address,
        client: reqwest::Client::new(),
        app,
        config,
        tasks,
        token: token.expose_secret().to_owned(),
        data_dir,
    }
}

/// A TestApp for a server that runs in another process on the database `app` reaches:
/// requests go to `address`, and nothing runs in this process.
pub fn attached_app(app: Arc<App>, address: String, token: String) -> TestApp {
    TestApp {
        address,
        client: reqwest::Client::new(),
        config: app.config.clone(),
        app,
        tasks: Vec::new(),
        token,
        data_dir: tempfile::tempdir().expect("temporary data directory"),
    }
}

/// Serves the app on a fresh loopback port and runs its background jobs.
async fn serve(app: Arc<App>) -> (String, Vec<tokio::task::JoinHandle<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let router = slipway::http::router(app.clone());
    let worker = tokio::spawn(slipway::jobs::run(app));
    let server = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    (address, vec![worker, server])
}

impl TestApp {
    /// Stops the server and the background jobs as a crash would; `app` still reaches the
    /// database.
    pub async fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops this app as a crash would (its tasks end mid-flight) and starts a new one on the
    /// same data directory and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.app = Arc::new(
            App::start(self.config.clone())
                .await
                .expect("restart the app"),
        );
        let (address, tasks) = serve(self.app.clone()).await;
        self.address = address;
        self.tasks = tasks;
    }
}

pub enum Body {
    None,
    Json(Value),
    Form(&'static [(&'static str, &'static str)]),
    Raw(&'static str, &'static str),
}

impl TestApp {
    /// A token for the user `email` (created when missing) with `scopes` (`*` for all).
    pub async fn token_for(&self, email: &str, scopes: &str) -> String {
        let user = accounts::ensure_user(&self.app, email, None).await.unwrap();
        let scopes = Scopes::parse_list(scopes).unwrap();
        accounts::create_token(&self.app, user.id, "test", &scopes)
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    /// An Envoyer-dialect request: the token as `Authorization: Bearer`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body,
    ) -> Reply {
        let auth = token.map(|t| ("Authorization", format!("Bearer {t}")));
        self.send(method, path, auth, body).await
    }

    /// A GitLab-dialect request under `/api/v4`: the token as `PRIVATE-TOKEN`.
    pub async fn gitlab(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body,
    ) -> Reply {
        let auth = token.map(|t| ("PRIVATE-TOKEN", t.to_owned()));
        self.send(method, &format!("/api/v4{path}"), auth, body)
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<(&str, String)>,
        body: Body,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("Accept", "application/json");
        if let Some((header, value)) = auth {
            request = request.header(header, value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Form(fields) => request.form(fields),
            Body::Raw(content_type, text) => {
                request.header("Content-Type", content_type).body(text)
            }
        };
        let response = request.send().await.expect("request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(&self.token), Body::None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(&self.token), Body::Json(body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(&self.token), Body::Json(body))
            .await
    }

    pub async fn delete(&self, path: &str, body: Value) -> Reply {
        self.request(Method::DELETE, path, Some(&self.token), Body::Json(body))
            .await
    }

    /// Creates a project owned by the admin and answers its id.
    pub async fn project(&self, name: &str) -> i64 {
        let reply = self
            .post(
                "/api/projects",
                serde_json::json!({
                    "name": name, "provider": "github", "repository": "laravel/laravel",
                    "branch": "main", "type": "laravel-5",
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["project"]["id"].as_i64().unwrap()
    }

    /// Creates a server in `project` and answers its id.
    pub async fn server(&self, project: i64, name: &str) -> i64 {
        let reply = self
            .post(
                &format!("/api/projects/{project}/servers"),
                serde_json::json!({
                    // A closed loopback port: anything that tries to connect is refused at once.
                    "name": name, "connectAs": "forge", "host": "127.0.0.1", "port": 1,
                    "phpVersion": "php81",
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["server"]["id"].as_i64().unwrap()
    }
}

/// Runs a statement written by the test itself (to set up what the API cannot, such as age).
pub async fn execute_sql(app: &TestApp, sql: &str) {
    match &app.app.store {
        slipway::db::Store::Sqlite(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .unwrap();
        }
        slipway::db::Store::Postgres(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// Counts the rows of `table` matching `filter` (SQL written by the test itself).
pub async fn count_rows(app: &TestApp, table: &str, filter: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
    match &app.app.store {
        slipway::db::Store::Sqlite(pool) => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap(),
        slipway::db::Store::Postgres(pool) => {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .unwrap()
        }
    }
}

/// The example objects of the API document, by name.
pub fn example(name: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("envoyer-examples.json")).unwrap();
    all[name].clone()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `expected` is in `actual`, with the same JSON type wherever both are not
/// null; nested objects and the first element of arrays are checked the same way.
pub fn assert_shape(actual: &Value, expected: &Value) {
    check_shape(actual, expected, "$");
}

fn check_shape(actual: &Value, expected: &Value, path: &str) {
    if expected.is_null() || actual.is_null() {
        return;
    }
    assert_eq!(
        kind(actual),
        kind(expected),
        "{path}: expected a {} like {expected}, got {actual}",
        kind(expected)
    );
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, value) in e {
                let field = format!("{path}.{key}");
                let got = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{field} is missing from {actual}"));
                check_shape(got, value, &field);
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let (Some(first), Some(example)) = (a.first(), e.first()) {
                check_shape(first, example, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}

pub fn assert_invalid(reply: &Reply, fields: &[&str]) {
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(
        reply.body["message"], "The given data was invalid.",
        "{reply:?}"
    );
    for field in fields {
        let messages = reply.body["errors"][field]
            .as_array()
            .unwrap_or_else(|| panic!("no error for `{field}` in {reply:?}"));
        assert!(!messages.is_empty() && messages.iter().all(Value::is_string));
    }
    let reported = reply.body["errors"].as_object().unwrap().len();
    assert_eq!(
        reported,
        fields.len(),
        "unexpected extra errors in {reply:?}"
    );
}

pub fn assert_not_found(reply: &Reply) {
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.body, serde_json::json!({"message": "Not Found."}));
}

pub fn assert_forbidden(reply: &Reply) {
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(
        reply.body,
        serde_json::json!({"message": "This action is unauthorized."})
    );
}

/// Distinguishes the two runs of a test (one per database) in remote process names.
pub fn backend_number(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 1,
    }
}

/// A virtualenv with the Python clients the tests drive (python-gitlab, schemathesis), made
/// once per build directory under cargo's temporary dir; answers its `bin` directory.
pub fn python_tools() -> std::path::PathBuf {
    use std::process::Command;
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    const PACKAGES: [&str; 3] = [
        "python-gitlab==8.6.0",
        "schemathesis==4.32.5",
        "prometheus-client==0.26.0",
    ];
    BIN.get_or_init(|| {
        let venv = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
        let bin = venv.join("bin");
        let ready = Command::new(bin.join("python"))
            .args(["-c", "import gitlab, schemathesis, prometheus_client"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ready {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap();
            assert!(status.success(), "python3 -m venv");
            let status = Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES)
                .status()
                .unwrap();
            assert!(status.success(), "pip install {PACKAGES:?}");
        }
        bin
    })
    .clone()
}
