//! The `slipway` binary: first start, token creation, migrations and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn slipway(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .env("SLIPWAY_DATA_DIR", data_dir)
        .env_remove("SLIPWAY_DATABASE_URL")
        .env("SLIPWAY_LOG", "info");
    command
}

/// Starts `serve` on a port the OS picks and reads the address it logs once it listens.
fn serve(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = slipway(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            address = Some(rest.split_whitespace().next().unwrap().to_owned());
            break;
        }
    }
    let address = address.expect("serve logs the address it listens on");
    // Keep reading the log, so that the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

fn stop(mut child: Child) -> (bool, String) {
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let status = child.wait().unwrap();
    (status.success(), stdout)
}

fn get(address: &str, path: &str, token: &str) -> u16 {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://{address}{path}"))
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().parse().unwrap()
}

#[test]
fn first_start_prints_an_admin_token_once_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = serve(dir.path());
    assert_eq!(get(&address, "/healthz", ""), 200);
    let (clean_exit, stdout) = stop(child);
    assert!(clean_exit, "SIGTERM ends serve with success");
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("slp_") && token.len() == 44, "{stdout}");

    // The second start prints nothing, and the printed token works.
    let (child, address) = serve(dir.path());
    assert_eq!(get(&address, "/api/projects", &token), 200);
    assert_eq!(get(&address, "/api/projects", "slp_wrong"), 401);
    let (clean_exit, stdout) = stop(child);
    assert!(clean_exit);
    assert_eq!(stdout, "");
}

#[test]
fn token_create_prints_only_the_token_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let output = slipway(dir.path())
        .args([
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--name",
            "Dev",
            "--scopes",
            "projects:create",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim();
    assert!(token.starts_with("slp_"));
    let log = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(
        log >= 2,
        "the data directory holds the database and the master key"
    );

    let (child, address) = serve(dir.path());
    assert_eq!(get(&address, "/api/projects", token), 200);
    stop(child);

    let bad = slipway(dir.path())
        .args([
            "token",
            "create",
            "--email",
            "dev@example.com",
            "--scopes",
            "projects:eat",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));
    let bad = slipway(dir.path())
        .args(["token", "create", "--email", "not-an-address"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
}

#[test]
fn migrate_brings_the_schema_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = slipway(dir.path()).arg("migrate").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("database is up to date"));
    }
    assert!(dir.path().join("slipway.db").exists());
}

#[test]
fn a_closed_log_pipe_does_not_break_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = slipway(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|line| line.split("address=").nth(1).map(|a| a.trim().to_owned()))
        .unwrap();
    drop(lines);
    for _ in 0..3 {
        assert_eq!(get(&address, "/healthz", ""), 200);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A request with curl; answers the status and the body.
fn request(address: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", method, "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-H", "Content-Type: application/json", "--data", body])
        .arg(format!("http://{address}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

/// Check-ins are answered before they are written; a clean stop writes those still waiting.
#[test]
fn check_ins_answered_before_a_clean_stop_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let output = slipway(dir.path())
        .args(["token", "create", "--email", "ops@example.com"])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let (child, address) = serve(dir.path());
    let (status, body) = request(
        &address,
        "POST",
        "/api/projects",
        &token,
        r#"{"name":"Cron","provider":"github","repository":"team/app"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(
        &address,
        "POST",
        "/api/projects/1/heartbeats",
        &token,
        r#"{"name":"nightly","interval":1440}"#,
    );
    assert_eq!(status, 200, "{body}");
    let heartbeat: serde_json::Value = serde_json::from_str(&body).unwrap();
    let created = heartbeat["heartbeat"]["last_checked_in_at"].clone();
    let check_in = format!(
        "/heartbeat/{}",
        heartbeat["heartbeat"]["token"].as_str().unwrap()
    );
    assert_eq!(request(&address, "POST", &check_in, "", "").0, 200);
    let (clean_exit, _) = stop(child);
    assert!(clean_exit);

    let (child, address) = serve(dir.path());
    let (status, body) = request(&address, "GET", "/api/projects/1/heartbeats/1", &token, "");
    assert_eq!(status, 200, "{body}");
    let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_ne!(
        shown["heartbeat"]["last_checked_in_at"], created,
        "the check-in was written"
    );
    stop(child);
}

/// `slipway user password` sets a password from standard input that signs in to the
/// dashboard; it never prints the password, and refuses a short one or an unknown user.
#[test]
fn user_password_sets_a_dashboard_password() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = serve(dir.path());
    stop(child);
    let set = |email: &str, password: &str| {
        let mut child = slipway(dir.path())
            .args(["user", "password", "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            format!("{password}\n").as_bytes(),
        )
        .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = set("admin@slipway.local", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    let unknown = set("nobody@example.com", "long enough password");
    assert!(!unknown.status.success());
    let done = set("admin@slipway.local", "long enough password");
    assert!(done.status.success(), "{done:?}");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(!printed.contains("long enough"), "{printed}");

    let (child, address) = serve(dir.path());
    let jar = dir.path().join("cookies");
    let sign_in = |password: &str| {
        // The page first, for its guard cookie and token, as a browser does.
        let page = Command::new("curl")
            .args(["-s", "-c"])
            .arg(&jar)
            .arg(format!("http://{address}/login"))
            .output()
            .unwrap();
        let html = String::from_utf8(page.stdout).unwrap();
        let token = html
            .split("name=\"_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-b"])
            .arg(&jar)
            .args(["--data-urlencode", "email=admin@slipway.local"])
            .arg("--data-urlencode")
            .arg(format!("password={password}"))
            .arg("--data-urlencode")
            .arg(format!("_token={token}"))
            .arg(format!("http://{address}/login"))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(sign_in("long enough password"), "303");
    assert_eq!(sign_in("another password"), "422");
    stop(child);
}

/// `--metrics-listen` serves `/metrics` on its own address, and only there.
#[test]
fn metrics_are_served_on_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = slipway(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut metrics, mut public) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Some(address) = line.split("address=").nth(1) else {
            continue;
        };
        let address = address.split_whitespace().next().unwrap().to_owned();
        if line.contains("metrics listening") {
            metrics = Some(address);
        } else if line.contains("slipway listening") {
            public = Some(address);
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (metrics, public) = (metrics.unwrap(), public.unwrap());
    assert_eq!(get(&public, "/healthz", ""), 200);
    let output = Command::new("curl")
        .args(["-s", &format!("http://{metrics}/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            r#"slipway_http_requests_total{route="/healthz",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert_eq!(
        get(&public, "/metrics", ""),
        404,
        "metrics on the public port"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
