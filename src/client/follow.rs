//! Following a deployment to its end: the server's stream of events (re-opened when the
//! connection breaks), shown as a live board on a terminal or as plain lines elsewhere.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::Duration;

use serde::Deserialize;

use super::api::{Api, ClientError, Result};
use super::board::Board;
use super::model::{Deployment, Process, Project, cut, shell_word};
use super::plain::Plain;

/// How following ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    Failed,
    Cancelled,
    /// The person pressed Ctrl-C: the deployment goes on.
    Interrupted,
}

/// A deployment as the follower knows it: its steps, their statuses and their output.
pub struct Tracker {
    pub project: String,
    pub deployment: Deployment,
    pub processes: Vec<Process>,
    output: HashMap<i64, String>,
    /// Bytes of each step's output received on the current connection: a new connection
    /// replays the output from the start, and only what goes beyond is new.
    received: HashMap<i64, usize>,
}

/// One server's line on the board: its name and its steps in order.
pub struct Lane<'a> {
    pub name: &'a str,
    pub steps: Vec<&'a Process>,
}

impl Tracker {
    fn new(project: &Project, mut deployment: Deployment) -> Tracker {
        let mut processes = deployment.processes.take().unwrap_or_default();
        processes.sort_by_key(|p| (p.sequence, p.id));
        Tracker {
            project: project.name.clone(),
            deployment,
            processes,
            output: HashMap::new(),
            received: HashMap::new(),
        }
    }

    /// The steps grouped by server, servers in the order their first step comes.
    pub fn lanes(&self) -> Vec<Lane<'_>> {
        let mut lanes: Vec<Lane<'_>> = Vec::new();
        for process in &self.processes {
            match lanes.iter_mut().find(|lane| lane.name == process.lane()) {
                Some(lane) => lane.steps.push(process),
                None => lanes.push(Lane {
                    name: process.lane(),
                    steps: vec![process],
                }),
            }
        }
        lanes
    }

    /// A step the record does not hold (yet): known by the server its output names.
    fn name_lane(&mut self, id: i64, server: Option<String>) {
        if self.process(id).is_none() {
            self.processes.push(Process {
                id,
                server_name: server,
                sequence: i64::MAX,
                name: "(a step)".to_owned(),
                status: "running".to_owned(),
                started_at: None,
                finished_at: None,
                duration_ms: None,
            });
        }
    }

    pub fn process(&self, id: i64) -> Option<&Process> {
        self.processes.iter().find(|p| p.id == id)
    }

    pub fn output(&self, id: i64) -> &str {
        self.output.get(&id).map(String::as_str).unwrap_or("")
    }

    /// Takes in the latest record of the deployment; statuses only ever move forward.
    /// Answers the steps it told something new about.
    fn update(&mut self, mut deployment: Deployment) -> Vec<i64> {
        let mut changed = Vec::new();
        for fresh in deployment.processes.take().unwrap_or_default() {
            match self.processes.iter_mut().find(|p| p.id == fresh.id) {
                Some(known) => {
                    let status = if rank(&fresh.status) > rank(&known.status) {
                        changed.push(fresh.id);
                        fresh.status.clone()
                    } else {
                        known.status.clone()
                    };
                    *known = Process { status, ..fresh };
                }
                None => {
                    if fresh.status != "pending" {
                        changed.push(fresh.id);
                    }
                    self.processes.push(fresh);
                }
            }
        }
        self.processes.sort_by_key(|p| (p.sequence, p.id));
        self.deployment = deployment;
        changed
    }

    /// Records a step's new status; false when it tells nothing new (a replay).
    fn set_status(&mut self, id: i64, status: &str) -> bool {
        match self.processes.iter_mut().find(|p| p.id == id) {
            Some(process) if rank(status) > rank(&process.status) => {
                process.status = status.to_owned();
                true
            }
            _ => false,
        }
    }

    /// Records output received; answers the part not seen before.
    fn add_output(&mut self, id: i64, text: &str) -> String {
        let received = self.received.entry(id).or_default();
        let start = *received;
        *received += text.len();
        let known = self.output.entry(id).or_default();
        if *received <= known.len() {
            return String::new();
        }
        let fresh = text
            .get(known.len().saturating_sub(start)..)
            .unwrap_or(text);
        known.push_str(fresh);
        fresh.to_owned()
    }

    /// A new connection replays everything from the start.
    fn reconnected(&mut self) {
        self.received.clear();
    }

    /// One line naming the deployment.
    pub fn title(&self) -> String {
        let d = &self.deployment;
        let environment = d.environment.as_deref().unwrap_or("production");
        let commit = d.commit_between(": ", "");
        match d.kind.as_deref() {
            Some("rollback") => format!(
                "Rollback {} of {} on {environment} to release {}{commit}",
                d.id,
                self.project,
                d.release.as_deref().unwrap_or("?"),
            ),
            Some("stop") => format!(
                "Stop {} of {}'s {environment} environment",
                d.id, self.project
            ),
            _ => format!(
                "Deployment {} of {} to {environment}{commit}",
                d.id, self.project
            ),
        }
    }

    fn ending(&self) -> Ending {
        match self.deployment.status.as_str() {
            "finished" => Ending::Finished,
            "cancelled" => Ending::Cancelled,
            _ => Ending::Failed,
        }
    }
}

/// Orders statuses so that a replayed event never moves a step back.
fn rank(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "running" => 1,
        _ => 2,
    }
}

/// What shows a deployment being followed.
pub trait View {
    fn start(&mut self, tracker: &Tracker);
    /// A step's status changed.
    fn changed(&mut self, tracker: &Tracker, process: i64);
    /// A step printed `text`.
    fn output(&mut self, tracker: &Tracker, process: i64, text: &str);
    /// The deployment ended; `tracker` holds its final record.
    fn finish(&mut self, tracker: &Tracker);
    /// Following stopped before the end.
    fn interrupted(&mut self, tracker: &Tracker);
}

/// Follows `deployment` of `project` to its end. On a terminal a live board, else plain lines.
pub async fn follow(api: &Api, project: &Project, deployment: Deployment) -> Result<Ending> {
    let mut view: Box<dyn View> = if std::io::stdout().is_terminal() {
        Box::new(Board::new())
    } else {
        Box::new(Plain::default())
    };
    let mut tracker = Tracker::new(project, deployment);
    view.start(&tracker);
    let outcome = {
        let watching = watch(api, project.id, &mut tracker, view.as_mut());
        tokio::pin!(watching);
        tokio::select! {
            result = &mut watching => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    };
    match outcome {
        Some(Ok(())) => {
            view.finish(&tracker);
            print!("{}", summary(&tracker));
            Ok(tracker.ending())
        }
        Some(Err(err)) => {
            view.interrupted(&tracker);
            Err(err)
        }
        None => {
            view.interrupted(&tracker);
            eprintln!(
                "Stopped following. Deployment {id} goes on; to cancel it: slipway cancel {project} {id}",
                id = tracker.deployment.id,
                project = shell_word(&tracker.project),
            );
            Ok(Ending::Interrupted)
        }
    }
}

/// How long following keeps trying to reach the server before it gives up: long enough for
/// the server to restart or be upgraded.
const RECONNECT_FOR: Duration = Duration::from_secs(600);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// The reading of one deployment's streams.
struct Follower<'a> {
    api: &'a Api,
    record: String,
    stream: String,
    /// Steps the record was read again for; an id it does not hold is not asked about again.
    looked_up: HashSet<i64>,
    /// The status the stream's `end` event gave.
    ended: Option<String>,
    /// Something arrived on the current connection.
    heard: bool,
}

async fn watch(api: &Api, project: i64, tracker: &mut Tracker, view: &mut dyn View) -> Result<()> {
    let record = format!(
        "/api/projects/{project}/deployments/{}",
        tracker.deployment.id
    );
    let mut follower = Follower {
        api,
        stream: format!("{record}/stream"),
        record,
        looked_up: HashSet::new(),
        ended: None,
        heard: false,
    };
    let mut broken_since: Option<std::time::Instant> = None;
    let mut pause = Duration::from_secs(1);
    loop {
        follower.heard = false;
        let why = match follower.read(tracker, view).await {
            Ok(true) => break,
            Ok(false) => ClientError::Unreachable {
                url: follower.stream.clone(),
                cause: "the server closed the stream".to_owned(),
            },
            Err(ClientError::RateLimited(after)) => {
                tokio::time::sleep(Duration::from_secs(after.unwrap_or(5).max(1))).await;
                continue;
            }
            Err(err) if is_transient(&err) => err,
            Err(other) => return Err(other),
        };
        if follower.heard {
            broken_since = None;
            pause = Duration::from_secs(1);
        }
        if broken_since
            .get_or_insert_with(std::time::Instant::now)
            .elapsed()
            > RECONNECT_FOR
        {
            return Err(why);
        }
        // A new connection replays the deployment from its start; only what is new is shown.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
        tracker.reconnected();
    }
    match api
        .get(&follower.record)
        .await
        .and_then(|reply| reply.field::<Deployment>("deployment"))
    {
        Ok(deployment) => {
            for process in tracker.update(deployment) {
                view.changed(tracker, process);
            }
        }
        // The stream already said how it ended.
        Err(_) if follower.ended.is_some() => {
            tracker.deployment.status = follower.ended.unwrap_or_default();
        }
        Err(err) => return Err(err),
    }
    Ok(())
}

/// An error that may pass: the connection, a proxy in front of a restarting server.
fn is_transient(err: &ClientError) -> bool {
    match err {
        ClientError::Unreachable { .. } => true,
        ClientError::Unexpected { status, .. } => *status >= 500,
        _ => false,
    }
}

#[derive(Deserialize)]
struct OutputEvent {
    process_id: i64,
    #[serde(default)]
    server: Option<String>,
    text: String,
}

#[derive(Deserialize)]
struct ProcessEvent {
    process_id: i64,
    status: String,
}

#[derive(Deserialize)]
struct EndEvent {
    status: String,
}

impl Follower<'_> {
    /// Reads one connection's stream until it ends; true when it ended with the deployment.
    async fn read(&mut self, tracker: &mut Tracker, view: &mut dyn View) -> Result<bool> {
        let mut events = self.api.events(&self.stream).await?;
        while let Some(event) = events.next().await? {
            self.heard = true;
            match event.name.as_str() {
                "output" => {
                    let Ok(output) = serde_json::from_str::<OutputEvent>(&event.data) else {
                        continue;
                    };
                    self.know(output.process_id, tracker, view).await?;
                    tracker.name_lane(output.process_id, output.server);
                    let fresh = tracker.add_output(output.process_id, &output.text);
                    if !fresh.is_empty() {
                        view.output(tracker, output.process_id, &fresh);
                    }
                }
                "process" => {
                    let Ok(change) = serde_json::from_str::<ProcessEvent>(&event.data) else {
                        continue;
                    };
                    self.know(change.process_id, tracker, view).await?;
                    if tracker.set_status(change.process_id, &change.status) {
                        view.changed(tracker, change.process_id);
                    }
                }
                "end" => {
                    self.ended = serde_json::from_str::<EndEvent>(&event.data)
                        .ok()
                        .map(|end| end.status);
                    return Ok(true);
                }
                _ => {}
            }
        }
        Ok(false)
    }

    /// Makes sure the tracker knows step `id`: steps are made when the deployment starts, so
    /// the record is read again, once per unknown step.
    async fn know(&mut self, id: i64, tracker: &mut Tracker, view: &mut dyn View) -> Result<()> {
        if tracker.process(id).is_some() || !self.looked_up.insert(id) {
            return Ok(());
        }
        let deployment = self.api.get(&self.record).await?.field("deployment")?;
        for process in tracker.update(deployment) {
            view.changed(tracker, process);
        }
        Ok(())
    }
}

/// The table of each step's duration on each server, and the outcome in one sentence.
pub fn summary(tracker: &Tracker) -> String {
    let lanes = tracker.lanes();
    let mut steps: Vec<&str> = Vec::new();
    for process in &tracker.processes {
        if !steps.contains(&process.name.as_str()) {
            steps.push(&process.name);
        }
    }
    let mut rows = vec![
        std::iter::once("Step".to_owned())
            .chain(lanes.iter().map(|lane| lane.name.to_owned()))
            .collect::<Vec<_>>(),
    ];
    for step in &steps {
        let mut row = vec![cut(step, 40)];
        for lane in &lanes {
            let cell = lane
                .steps
                .iter()
                .filter(|p| p.name == *step)
                .map(|p| step_cell(p))
                .collect::<Vec<_>>()
                .join(", ");
            row.push(if cell.is_empty() {
                "·".to_owned()
            } else {
                cell
            });
        }
        rows.push(row);
    }
    let mut text = String::new();
    if !steps.is_empty() {
        text.push_str(&super::table::render(&rows));
    }
    text.push_str(&outcome_sentence(tracker));
    text.push('\n');
    text
}

fn step_cell(process: &Process) -> String {
    let took = process
        .duration_ms
        .map(|ms| seconds(ms as f64 / 1000.0))
        .unwrap_or_default();
    match process.status.as_str() {
        "finished" => took,
        "error" => format!("failed {took}").trim_end().to_owned(),
        other => other.to_owned(),
    }
}

fn seconds(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}s")
    } else {
        format!("{value:.0}s")
    }
}

fn outcome_sentence(tracker: &Tracker) -> String {
    let d = &tracker.deployment;
    let took = match took(tracker) {
        Some(0) => " in under a second".to_owned(),
        Some(secs) => format!(" in {secs} s"),
        None => String::new(),
    };
    let release = d.release.as_deref().unwrap_or("?");
    let commit = d.commit_between(" (", ")");
    match (d.status.as_str(), d.kind.as_deref()) {
        ("finished", Some("rollback")) => {
            format!("Rolled back{took}: release {release}{commit} is live again.")
        }
        ("finished", Some("stop")) => format!("Stopped{took}."),
        ("finished", _) => format!("Finished{took}: release {release}{commit} is live."),
        ("cancelled", _) => format!("Deployment {} was cancelled.", d.id),
        _ => {
            let why = d.error.as_deref().unwrap_or("a step failed");
            let back = if d.rolled_back {
                " The servers were switched back to the release before."
            } else {
                ""
            };
            format!(
                "Deployment {} failed: {}.{back}",
                d.id,
                why.trim_end_matches('.')
            )
        }
    }
}

/// Seconds from the first step's start to the last one's end.
fn took(tracker: &Tracker) -> Option<i64> {
    let start = tracker
        .processes
        .iter()
        .filter_map(|p| p.started_at)
        .min()?;
    let end = tracker
        .processes
        .iter()
        .filter_map(|p| p.finished_at)
        .max()?;
    Some((end - start).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(id: i64, server: &str, sequence: i64, name: &str, status: &str) -> Process {
        Process {
            id,
            server_name: Some(server.to_owned()),
            sequence,
            name: name.to_owned(),
            status: status.to_owned(),
            started_at: None,
            finished_at: None,
            duration_ms: None,
        }
    }

    fn tracker() -> Tracker {
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "id": 7, "status": "running", "commit_branch": "main",
            "commit_hash": "0123456789abcdef", "commit_message": "Fix it\n\nbody",
        }))
        .unwrap();
        let project: Project =
            serde_json::from_value(serde_json::json!({"id": 1, "name": "My site"})).unwrap();
        let mut tracker = Tracker::new(&project, deployment);
        tracker.processes = vec![
            process(1, "web-1", 1, "Clone New Release", "finished"),
            process(2, "web-2", 1, "Clone New Release", "running"),
            process(3, "web-1", 2, "Activate New Release", "pending"),
        ];
        tracker
    }

    #[test]
    fn a_replayed_stream_adds_only_output_not_seen_before() {
        let mut tracker = tracker();
        assert_eq!(tracker.add_output(1, "one\n"), "one\n");
        assert_eq!(tracker.add_output(1, "two"), "two");
        tracker.reconnected();
        assert_eq!(tracker.add_output(1, "one\n"), "");
        assert_eq!(tracker.add_output(1, "two and three\n"), " and three\n");
        assert_eq!(tracker.output(1), "one\ntwo and three\n");
    }

    #[test]
    fn statuses_never_move_back() {
        let mut tracker = tracker();
        assert!(!tracker.set_status(1, "running"));
        assert!(tracker.set_status(3, "running"));
        assert!(tracker.set_status(3, "error"));
        assert_eq!(tracker.process(3).unwrap().status, "error");
    }

    #[test]
    fn lanes_follow_the_servers_in_the_order_of_their_first_step() {
        let tracker = tracker();
        let lanes = tracker.lanes();
        let names: Vec<&str> = lanes.iter().map(|l| l.name).collect();
        assert_eq!(names, ["web-1", "web-2"]);
        assert_eq!(lanes[0].steps.len(), 2);
        assert_eq!(
            tracker.title(),
            "Deployment 7 of My site to production: main@0123456 \"Fix it\""
        );
    }
}
