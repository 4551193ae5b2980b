//! The `slipway` binary as a client: the real binary in a subprocess against a real server
//! and real sshd servers; on a pseudo-terminal where it draws its live board.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::fleet::Fleet;
use crate::helpers::*;

/// The binary, speaking to one server with one token, with a configuration directory of its
/// own (so that nothing of the machine's user leaks in).
struct Cli {
    url: String,
    token: String,
    config: tempfile::TempDir,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(app: &TestApp) -> Cli {
        Cli::with_token(app, &app.token)
    }

    fn with_token(app: &TestApp, token: &str) -> Cli {
        Cli {
            url: app.address.clone(),
            token: token.to_owned(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary with the server and token in `SLIPWAY_URL` and `SLIPWAY_TOKEN`, as in CI.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = self.bare(args);
        command
            .env("SLIPWAY_URL", &self.url)
            .env("SLIPWAY_TOKEN", &self.token);
        command
    }

    /// The binary with only its configuration directory: what `slipway login` stored.
    fn bare(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env_remove("SLIPWAY_URL")
            .env_remove("SLIPWAY_TOKEN")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args)).await
    }
}

async fn finish(mut command: tokio::process::Command) -> Run {
    let output = command.output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A command running in the background, its standard output read line by line.
struct Running {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: String,
}

impl Running {
    fn start(mut command: tokio::process::Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Running {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads standard output until a line contains `text`.
    async fn wait_for(&mut self, text: &str) {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen.push_str(&line);
            self.seen.push('\n');
            if line.contains(text) {
                return;
            }
        }
        panic!("the output ended before {text:?}:\n{}", self.seen);
    }

    async fn finish(mut self) -> Run {
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .unwrap();
        let status = self.child.wait().await.unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.seen,
            stderr,
        }
    }
}

const ROWS: u16 = 40;
const COLUMNS: u16 = 140;

/// Runs `command` on a pseudo-terminal; answers its exit status, the final screen as a
/// terminal shows it, and every byte it wrote.
async fn on_terminal(mut command: tokio::process::Command) -> (i32, String, Vec<u8>) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the integers given; we own them after.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(opened, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    command
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .env("TERM", "xterm-256color");
    let mut child = command.spawn().unwrap();
    // The parent's copies of the terminal's descriptors go, so that reading ends with the child.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        // Reading the master side fails (EIO) once the child's side is closed.
        while let Ok(read @ 1..) = std::io::Read::read(&mut master, &mut buffer) {
            bytes.extend_from_slice(&buffer[..read]);
        }
        bytes
    });
    let status = child.wait().await.unwrap();
    let bytes = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let nonzero = |n| std::num::NonZeroU16::new(n).unwrap();
    let mut screen = vt100::Parser::new(nonzero(ROWS), nonzero(COLUMNS), 0);
    screen.process(&bytes);
    // Row by row: a line as wide as the terminal would otherwise run into the next.
    let rows: Vec<String> = screen
        .screen()
        .rows(0, COLUMNS)
        .map(|row| row.trim_end().to_owned())
        .collect();
    (
        status.code().unwrap_or(-1),
        rows.join("\n").trim_end().to_owned(),
        bytes,
    )
}

/// Keeps a terminal's final screen beside the dashboard's screenshots, for people to look at.
fn keep_screen(name: &str, screen: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), format!("{screen}\n")).unwrap();
}

/// A hook after Clone New Release on every server.
async fn hook(fleet: &Fleet, name: &str, script: &str) {
    fleet
        .hook(json!({
            "name": name, "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": script,
        }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_token_stores_it_privately_and_logout_forgets_it() {
    let app = spawn_app(Backend::Sqlite).await;
    app.project("Site").await;
    let cli = Cli::new(&app);
    let config = cli.config.path().join("slipway/config.toml");

    let refused = finish(cli.bare(&["login", "--url", &cli.url, "--token", "slp_wrong"])).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("refused the token"), "{refused:?}");
    assert!(!config.exists());

    // Nothing to speak to yet.
    let lost = finish(cli.bare(&["projects"])).await;
    assert_eq!(lost.code, 2);
    assert!(lost.stderr.contains("slipway login --url"), "{lost:?}");

    // The token from standard input, as a script would pass it.
    let mut login = cli.bare(&["login", "--url", &format!("{}/", cli.url)]);
    login
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", cli.token).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("sees 1 project"), "{stdout}");
    assert!(!stdout.contains(&cli.token) && output.stderr.is_empty());
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = std::fs::read_to_string(&config).unwrap();
    assert!(stored.contains(&cli.url) && stored.contains(&cli.token));

    let listed = finish(cli.bare(&["projects"])).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains("Site"), "{listed:?}");

    // The environment wins over the file: a CI job needs no file.
    let mut overridden = cli.bare(&["projects"]);
    overridden.env("SLIPWAY_TOKEN", "slp_revoked");
    let overridden = finish(overridden).await;
    assert_eq!(overridden.code, 2);
    assert!(
        overridden
            .stderr
            .contains("the token was refused; run slipway login"),
        "{overridden:?}"
    );
    assert!(!overridden.stderr.contains("slp_revoked"));

    let logout = finish(cli.bare(&["logout"])).await;
    assert_eq!(logout.code, 0);
    assert!(logout.stdout.contains(&cli.url), "{logout:?}");
    assert!(!config.exists());
    assert_eq!(finish(cli.bare(&["projects"])).await.code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_went_wrong_and_never_show_the_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let site = app.project("Site").await;
    app.project("Twin").await;
    app.project("Twin").await;
    let cli = Cli::new(&app);
    let reader = app.token_for("admin@slipway.local", "servers:create").await;
    let check = |run: &Run, code: i32, text: &str| {
        assert_eq!(run.code, code, "{run:?}");
        assert!(run.stderr.contains(text), "{text:?} in {run:?}");
        for token in [&cli.token, &reader] {
            assert!(!run.stderr.contains(token.as_str()) && !run.stdout.contains(token.as_str()));
        }
    };
    let limited = Cli::with_token(&app, &reader);
    check(
        &limited.run(&["deploy", "Site"]).await,
        2,
        "the token lacks the scope deployments:create",
    );
    check(
        &cli.run(&["deploy", "Nowhere"]).await,
        2,
        "a project named \"Nowhere\" was not found",
    );
    check(
        &cli.run(&["status", "999"]).await,
        2,
        "project 999 was not found",
    );
    check(
        &cli.run(&["status", "Twin"]).await,
        2,
        "2 projects are named \"Twin\"",
    );
    check(
        &cli.run(&["deploy", "Site", "--branch", "bad..name"]).await,
        2,
        "  branch: The branch must be a valid git branch name.",
    );
    check(
        &cli.run(&["logs", &site.to_string(), "77"]).await,
        2,
        "deployment 77 of Site was not found",
    );
    check(
        &cli.run(&["cancel", "Site"]).await,
        2,
        "no deployment of Site is waiting or running",
    );
    // Usage errors are clap's, with the same status.
    check(
        &cli.run(&["deploy", "Site", "--branch", "a", "--tag", "b"])
            .await,
        2,
        "cannot be used with",
    );
    // An unreachable server: the URL and why.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut away = cli.command(&["projects"]);
    away.env("SLIPWAY_URL", &url);
    let away = finish(away).await;
    check(&away, 2, &format!("could not reach {url}/api/projects: "));
    assert!(away.stderr.contains("refused"), "{away:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_follow_in_a_ci_log_prints_plain_lines_and_exits_0() {
    let fleet = Fleet::new(Backend::Sqlite, 2, json!({})).await;
    hook(
        &fleet,
        "Greet",
        "echo hello from $(hostname) && echo 'second line: héllo ✓'",
    )
    .await;
    let cli = Cli::new(&fleet.app);

    let run = cli.run(&["deploy", "Site", "--follow"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.starts_with("Deployment 1 of Site to production\n"),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no terminal, no escapes: {out:?}");
    for server in ["server-1", "server-2"] {
        for line in [
            format!("==> [{server}] Clone New Release started"),
            format!("==> [{server}] Greet finished"),
            format!("[{server}] second line: héllo ✓"),
            format!("==> [{server}] Activate New Release finished"),
        ] {
            assert!(out.contains(&line), "{line:?} in {out}");
        }
    }
    assert!(out.contains("[server-1] hello from "), "{out}");
    // The summary: a row per step, a column per server, then the outcome.
    let header = out.lines().find(|l| l.starts_with("Step")).unwrap();
    assert!(header.contains("server-1") && header.contains("server-2"));
    let greet = out.lines().find(|l| l.starts_with("Greet ")).unwrap();
    let durations: Vec<&str> = greet.split_whitespace().skip(1).collect();
    assert_eq!(durations.len(), 2, "a duration per server: {greet}");
    for duration in durations {
        let seconds = duration
            .strip_suffix('s')
            .unwrap_or_else(|| panic!("{greet}"));
        assert!(seconds.parse::<f64>().is_ok(), "{greet}");
    }
    let release = fleet.current(0).unwrap();
    let head = fleet.repo.head();
    let outcome = format!(
        "release {release} (main@{} \"Initial commit\") is live.",
        &head[..7]
    );
    assert!(
        out.contains("Finished in ") && out.contains(&outcome),
        "{out}"
    );

    // Without --follow: the queued deployment, and how to follow it; by id this time.
    let queued = cli
        .run(&[
            "deploy",
            &fleet.project.to_string(),
            "--sha",
            &fleet.repo.head(),
        ])
        .await;
    assert_eq!(queued.code, 0, "{queued:?}");
    assert!(
        queued.stdout.contains("Queued deployment 2 of Site"),
        "{queued:?}"
    );
    assert!(queued.stdout.contains("slipway logs Site 2 --follow"));
    let followed = cli.run(&["logs", "Site", "2", "--follow"]).await;
    assert_eq!(followed.code, 0, "{followed:?}");
    assert!(followed.stdout.contains("[server-2] second line: héllo ✓"));

    // The recorded output of the latest deployment.
    let logs = cli.run(&["logs", "Site"]).await;
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(logs.stdout.contains("Deployment 2 of Site"), "{logs:?}");
    assert!(logs.stdout.contains("==> [server-1] Greet (finished, "));
    assert!(logs.stdout.contains("[server-1] second line: héllo ✓"));

    // Every read command's --json is the API's JSON.
    let path = format!("/api/projects/{}", fleet.project);
    for (args, key, api_path) in [
        (
            vec!["projects", "--json"],
            "projects",
            "/api/projects".to_owned(),
        ),
        (
            vec!["servers", "Site", "--json"],
            "servers",
            format!("{path}/servers"),
        ),
        (
            vec!["releases", "Site", "--json"],
            "releases",
            format!("{path}/releases"),
        ),
        (
            vec!["logs", "Site", "1", "--json"],
            "processes",
            format!("{path}/deployments/1/output"),
        ),
    ] {
        let run = cli.run(&args).await;
        assert_eq!(run.code, 0, "{run:?}");
        let printed: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(printed, fleet.app.get(&api_path).await.body, "{args:?}");
        assert!(printed[key].is_array());
    }
    let status = cli.run(&["status", "Site", "--json"]).await;
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    for (key, api_path) in [
        ("project", path.clone()),
        ("deployments", format!("{path}/deployments")),
        ("servers", format!("{path}/servers")),
        ("releases", format!("{path}/releases")),
    ] {
        assert_eq!(
            status[key],
            fleet.app.get(&api_path).await.body[key],
            "{key}"
        );
    }
    assert_eq!(status["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(status["releases"][0]["live"], true);

    let status = cli.run(&["status", "Site"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let live_release = fleet.current(0).unwrap();
    let release_row = status
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(live_release.as_str()))
        .unwrap_or_else(|| panic!("the live release in {}", status.stdout));
    assert_eq!(
        release_row.split_whitespace().nth(2),
        Some("live"),
        "{release_row}"
    );
    for text in [
        "Site (id ",
        "Health: no monitor",
        "Last deployments",
        "Servers",
        "Releases",
    ] {
        assert!(
            status.stdout.contains(text),
            "{text:?} in {}",
            status.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_exits_1_and_prints_its_output() {
    let fleet = Fleet::new(Backend::Sqlite, 1, json!({})).await;
    hook(&fleet, "Run tests", "echo 'tests: 3 failed' >&2; exit 3").await;
    let cli = Cli::new(&fleet.app);
    let run = cli.run(&["deploy", "Site", "--follow"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("[server-1] tests: 3 failed"), "{run:?}");
    assert!(run.stdout.contains("==> [server-1] Run tests failed"));
    assert!(run.stdout.contains("Deployment 1 failed"), "{run:?}");
    assert_eq!(fleet.current(0), None, "nothing was switched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_deployment_exits_3_and_ctrl_c_leaves_it_running() {
    let fleet = Fleet::new(Backend::Sqlite, 1, json!({})).await;
    let gate = fleet.add_gate().await;
    let cli = Cli::new(&fleet.app);

    let mut first = Running::start(cli.command(&["deploy", "Site", "--follow"]));
    first.wait_for("==> [server-1] Gate started").await;
    // A second one waits in the queue, and its follower says so.
    let mut second = Running::start(cli.command(&["deploy", "Site", "--follow"]));
    second
        .wait_for("Waiting for the deployment to start.")
        .await;

    // Cancel picks the running one.
    let cancel = cli.run(&["cancel", "Site"]).await;
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert!(cancel.stdout.contains("Cancelled deployment 1 of Site."));
    let run = first.finish().await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout.contains("Deployment 1 was cancelled."),
        "{run:?}"
    );

    // The second starts; Ctrl-C stops its follower, not the deployment.
    second.wait_for("==> [server-1] Gate started").await;
    assert!(
        second
            .seen
            .starts_with("Deployment 2 of Site to production\n")
    );
    let pid = second.child.id().unwrap().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let run = second.finish().await;
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        run.stderr
            .contains("Deployment 2 goes on; to cancel it: slipway cancel Site 2"),
        "{run:?}"
    );
    assert_eq!(fleet.record(2).await["status"], "running");
    gate.open();
    assert_eq!(fleet.wait(2).await["status"], "finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_board_shows_each_server_and_the_failing_output() {
    let fleet = Fleet::new(Backend::Sqlite, 2, json!({})).await;
    let cli = Cli::new(&fleet.app);
    let (code, screen, bytes) = on_terminal(cli.command(&["deploy", "Site", "--follow"])).await;
    keep_screen("cli-board-finished.txt", &screen);
    assert_eq!(code, 0, "{screen}");
    let steps = fleet.record(1).await["processes"].as_array().unwrap().len() / 2;
    for server in ["server-1", "server-2"] {
        let line = screen
            .lines()
            .find(|l| l.contains(server) && l.contains('['))
            .unwrap_or_else(|| panic!("a line for {server} in\n{screen}"));
        assert!(line.starts_with("✔ "), "{line}");
        assert!(line.contains(&format!("{steps}/{steps}")), "{line}");
        assert!(line.ends_with("done"), "{line:?}");
    }
    assert!(screen.contains("Finished in "), "{screen}");
    let header = screen.lines().find(|l| l.starts_with("Step")).unwrap();
    assert!(header.contains("server-1") && header.contains("server-2"));
    // It was drawn live: spinner frames and redraws, not printed once.
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains('⠋') || raw.contains('⠙'), "a spinner turned");
    let moves_up = raw.split("\x1b[").skip(1).any(|sequence| {
        sequence
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('A')
    });
    assert!(moves_up, "the board was redrawn in place");

    // A failing step: its server's line says so, and its output is under the board.
    hook(&fleet, "Run tests", "echo 'tests: 3 failed'; exit 3").await;
    let (code, screen, _) = on_terminal(cli.command(&["deploy", "Site", "--follow"])).await;
    keep_screen("cli-board-failed.txt", &screen);
    assert_eq!(code, 1, "{screen}");
    let line = screen
        .lines()
        .find(|l| l.contains("server-1") && l.contains('['))
        .unwrap();
    assert!(
        line.starts_with("✖ ") && line.ends_with("Run tests failed"),
        "{line:?}"
    );
    assert!(
        screen.contains("── Run tests failed on server-1 ──"),
        "{screen}"
    );
    assert!(screen.contains("  tests: 3 failed"), "{screen}");
    assert!(screen.contains("Deployment 2 failed"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_rollback_and_env_from_the_terminal() {
    let fleet = Fleet::new(Backend::Sqlite, 1, json!({})).await;
    let first = fleet.deploy(json!({})).await;
    fleet.repo.commit(
        &[("public/index.html", "<h1>two</h1>\n")],
        "Page two",
        "Eve",
        "eve@example.com",
    );
    let second = fleet.deploy(json!({})).await;
    let cli = Cli::new(&fleet.app);

    let releases = cli.run(&["releases", "Site"]).await;
    assert_eq!(releases.code, 0, "{releases:?}");
    let r1 = first["release"].as_str().unwrap();
    let r2 = second["release"].as_str().unwrap();
    let live = releases.stdout.lines().find(|l| l.contains(r2)).unwrap();
    assert!(
        live.split_whitespace().nth(2) == Some("live") && live.contains("Page two"),
        "{live}"
    );
    assert!(
        releases
            .stdout
            .lines()
            .any(|l| l.contains(r1) && l.contains("ready"))
    );

    let rollback = cli.run(&["rollback", "Site", "--follow"]).await;
    assert_eq!(rollback.code, 0, "{rollback:?}");
    assert!(
        rollback
            .stdout
            .starts_with("Rollback 3 of Site on production to release ")
    );
    assert!(
        rollback.stdout.contains(&format!("release {r1} (main@"))
            && rollback.stdout.contains("is live again."),
        "{rollback:?}"
    );
    assert_eq!(fleet.current(0).as_deref(), Some(r1));

    // Back to the second release's deployment, which is live no more; then refused, as it
    // is live again.
    let second_id = second["id"].to_string();
    let again = cli.run(&["rollback", "Site", "--to", &second_id]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .contains("Rolling back with deployment 4 of Site")
    );
    assert_eq!(fleet.wait(4).await["status"], "finished");
    let refused = cli.run(&["rollback", "Site", "--to", &second_id]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("the server refused the request:\n  deployment: ")
    );

    // The .env: pushed from a file, the key from a key file, and pulled back.
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("production.env");
    std::fs::write(&env, "APP_ENV=production\nAPP_KEY=base64:abc\n").unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "correct horse battery staple\n").unwrap();
    let key = key.display().to_string();
    let push = cli
        .run(&[
            "env",
            "push",
            "Site",
            &env.display().to_string(),
            "--key-file",
            &key,
        ])
        .await;
    assert_eq!(push.code, 0, "{push:?}");
    assert!(push.stdout.contains("wrote it to server-1"), "{push:?}");
    let written = std::fs::read_to_string(fleet.path(0).join(".env")).unwrap();
    assert_eq!(written, "APP_ENV=production\nAPP_KEY=base64:abc\n");
    let pull = cli.run(&["env", "pull", "Site", "--key-file", &key]).await;
    assert_eq!(pull.code, 0, "{pull:?}");
    assert_eq!(pull.stdout, "APP_ENV=production\nAPP_KEY=base64:abc\n");
    // Without a terminal to ask on, the key must come from a file.
    let asked = cli.run(&["env", "pull", "Site"]).await;
    assert_eq!(asked.code, 2);
    assert!(asked.stderr.contains("--key-file"), "{asked:?}");
}
