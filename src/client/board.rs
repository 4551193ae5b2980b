//! A deployment followed on a terminal: a live board with one line per server (a spinner,
//! the server, a progress bar over its steps, the time since its first step began, the step
//! it is on) and, below it, the output of the steps that failed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::follow::{Lane, Tracker, View};
use super::model::{Process, cut};

/// The spinner's frames; the last one is shown once it stops.
const SPINNER: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ";

/// At most this many of a failed step's last output lines are shown under the board.
const FAILED_OUTPUT_LINES: usize = 12;

pub struct Board {
    multi: MultiProgress,
    /// The deployment's title, which names the commit once the deployment has resolved it.
    title: ProgressBar,
    lanes: Vec<LaneBar>,
    /// The failed steps' output, once a step fails.
    failures: Option<ProgressBar>,
    /// A spinner while the deployment has no steps yet (it is queued, or just starting).
    waiting: Option<ProgressBar>,
    /// The widest server name so far: the lines are aligned on it.
    name_width: usize,
}

struct LaneBar {
    name: String,
    bar: ProgressBar,
    state: LaneState,
    started: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum LaneState {
    Waiting,
    Running,
    Finished,
    Failed,
    Cancelled,
    /// Its steps finished, but the deployment did not.
    Stopped,
}

impl Board {
    pub fn new() -> Board {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
        let title = multi.add(ProgressBar::new(0));
        title.set_style(style("{wide_msg:.bold}"));
        Board {
            multi,
            title,
            lanes: Vec::new(),
            failures: None,
            waiting: None,
            name_width: 0,
        }
    }

    fn size() -> (usize, usize) {
        let (rows, columns) = console::Term::stdout().size();
        (usize::from(rows).max(10), usize::from(columns).max(40))
    }

    fn refresh(&mut self, tracker: &Tracker) {
        self.title.set_message(tracker.title());
        let lanes = tracker.lanes();
        if lanes.is_empty() {
            if self.waiting.is_none() && tracker.deployment.is_open() {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style("{spinner:.cyan} {msg} {elapsed}").tick_chars(SPINNER));
                bar.set_message("waiting for the deployment to start");
                bar.enable_steady_tick(Duration::from_millis(100));
                self.waiting = Some(bar);
            }
            return;
        }
        if let Some(waiting) = self.waiting.take() {
            waiting.finish_and_clear();
            self.multi.remove(&waiting);
        }
        let widest = lanes
            .iter()
            .map(|l| l.name.chars().count())
            .max()
            .unwrap_or(0);
        let realign = widest > self.name_width;
        self.name_width = self.name_width.max(widest);
        for lane in &lanes {
            let index = match self.lanes.iter().position(|l| l.name == lane.name) {
                Some(index) => index,
                None => self.add_lane(lane.name),
            };
            let (state, message) = describe(tracker, lane);
            let width = self.name_width;
            let shown = &mut self.lanes[index];
            let bar = &shown.bar;
            bar.set_length(lane.steps.len() as u64);
            // Steps that ran: skipped and cancelled ones do not fill the bar.
            let ran = lane
                .steps
                .iter()
                .filter(|p| matches!(p.status.as_str(), "finished" | "error"))
                .count();
            bar.set_position(ran as u64);
            if state != LaneState::Waiting && !shown.started {
                shown.started = true;
                match started_at(lane) {
                    Some(start) => bar.set_elapsed(since(start)),
                    None => bar.reset_elapsed(),
                }
            }
            bar.set_message(message);
            if state != shown.state || realign {
                shown.state = state;
                restyle(bar, state, width, &shown.name);
            }
        }
        self.show_failures(tracker, lanes.len());
    }

    fn add_lane(&mut self, name: &str) -> usize {
        let bar = match &self.failures {
            Some(failures) => self.multi.insert_before(failures, ProgressBar::new(0)),
            None => self.multi.add(ProgressBar::new(0)),
        };
        restyle(&bar, LaneState::Waiting, self.name_width, name);
        bar.enable_steady_tick(Duration::from_millis(100));
        self.lanes.push(LaneBar {
            name: name.to_owned(),
            bar,
            state: LaneState::Waiting,
            started: false,
        });
        self.lanes.len() - 1
    }

    /// The output of the failed steps, under the board, cut to what the terminal can show
    /// (indicatif draws nothing past its height).
    fn show_failures(&mut self, tracker: &Tracker, lanes: usize) {
        let failed: Vec<&Process> = tracker
            .processes
            .iter()
            .filter(|p| p.status == "error")
            .collect();
        if failed.is_empty() {
            return;
        }
        let (rows, columns) = Board::size();
        let room = rows.saturating_sub(lanes + 3).max(3);
        let per_step = (room / failed.len()).clamp(2, FAILED_OUTPUT_LINES + 2) - 2;
        let mut lines: Vec<String> = Vec::new();
        let mut shown_before: Vec<(&str, &str)> = Vec::new();
        for process in failed {
            let output = tracker.output(process.id);
            lines.push(String::new());
            // The same step failing the same way on several servers is shown once.
            if shown_before.contains(&(process.name.as_str(), output)) {
                lines.push(format!(
                    "── {} failed on {} too, with the same output ──",
                    process.name,
                    process.lane()
                ));
                continue;
            }
            shown_before.push((&process.name, output));
            lines.push(format!(
                "── {} failed on {} ──",
                process.name,
                process.lane()
            ));
            let output: Vec<&str> = output.lines().collect();
            if output.is_empty() {
                lines.push("  (no output)".to_owned());
            }
            for line in &output[output.len().saturating_sub(per_step)..] {
                lines.push(format!("  {}", cut(&printable(line), columns - 3)));
            }
        }
        let text = lines[lines.len().saturating_sub(room)..].join("\n");
        let bar = self.failures.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(style("{msg}"));
            bar
        });
        bar.set_message(text);
    }

    /// Settles every line on how the deployment ended and stops drawing.
    fn settle(&mut self, tracker: &Tracker) {
        let lanes = tracker.lanes();
        for shown in &mut self.lanes {
            let lane = lanes.iter().find(|l| l.name == shown.name);
            if let Some(lane) = lane {
                let (mut state, mut message) = describe(tracker, lane);
                if state == LaneState::Finished && tracker.deployment.status != "finished" {
                    state = LaneState::Stopped;
                    message = if tracker.deployment.rolled_back {
                        "switched back".to_owned()
                    } else {
                        "stopped".to_owned()
                    };
                }
                if let Some((start, end)) = started_at(lane).zip(finished_at(lane)) {
                    shown
                        .bar
                        .set_elapsed(Duration::from_secs((end - start).max(0) as u64));
                }
                shown.bar.set_message(message);
                restyle(&shown.bar, state, self.name_width, &shown.name);
            }
            shown.bar.abandon();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("the board's templates are valid")
}

/// Gives a lane the style of its state, and the mark that goes with it.
fn restyle(bar: &ProgressBar, state: LaneState, name_width: usize, name: &str) {
    bar.set_prefix(match state {
        LaneState::Finished => "✔",
        LaneState::Failed => "✖",
        _ => "■",
    });
    bar.set_style(lane_style(state, name_width, name));
}

/// A lane's style: the server's name is part of the template, so that the message is free
/// for the step.
fn lane_style(state: LaneState, name_width: usize, name: &str) -> ProgressStyle {
    let (mark, colours) = match state {
        LaneState::Waiting | LaneState::Running => ("{spinner:.cyan}", "cyan/blue"),
        LaneState::Finished => ("{prefix:.green}", "green/blue"),
        LaneState::Failed => ("{prefix:.red}", "red/blue"),
        LaneState::Cancelled | LaneState::Stopped => ("{prefix:.yellow}", "yellow/blue"),
    };
    let name = format!("{name:<name_width$}")
        .replace('{', "{{")
        .replace('}', "}}");
    style(&format!(
        "{mark} {name}  [{{bar:24.{colours}}}] {{pos}}/{{len}} {{elapsed:>4}}  {{wide_msg}}"
    ))
    .tick_chars(SPINNER)
    .progress_chars("━╸ ")
}

/// Where a server stands, in a state and a few words.
fn describe(tracker: &Tracker, lane: &Lane<'_>) -> (LaneState, String) {
    if let Some(failed) = lane.steps.iter().find(|p| p.status == "error") {
        return (LaneState::Failed, format!("{} failed", failed.name));
    }
    if let Some(running) = lane.steps.iter().find(|p| p.status == "running") {
        return (LaneState::Running, running.name.clone());
    }
    if lane.steps.iter().all(|p| p.is_done()) {
        let deployment = tracker.deployment.status.as_str();
        if lane.steps.iter().any(|p| p.status == "cancelled") || deployment == "cancelled" {
            return (LaneState::Cancelled, "cancelled".to_owned());
        }
        return (LaneState::Finished, "done".to_owned());
    }
    let done = lane.steps.iter().filter(|p| p.is_done()).count();
    if done == 0 {
        let waiting = if tracker.deployment.status == "pending" {
            "queued"
        } else {
            "waiting"
        };
        return (LaneState::Waiting, waiting.to_owned());
    }
    (
        LaneState::Running,
        "waiting for the other servers".to_owned(),
    )
}

fn started_at(lane: &Lane<'_>) -> Option<i64> {
    lane.steps.iter().filter_map(|p| p.started_at).min()
}

fn finished_at(lane: &Lane<'_>) -> Option<i64> {
    lane.steps.iter().filter_map(|p| p.finished_at).max()
}

/// The time since a Unix time, in whole seconds.
fn since(unix_seconds: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(unix_seconds);
    Duration::from_secs((now - unix_seconds).max(0) as u64)
}

/// A line of remote output as it may be drawn: no escapes or control characters, tabs as
/// spaces (they would move the cursor under the board's feet).
fn printable(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => text.push_str("    "),
            // An escape sequence: ESC, then up to the letter that ends it.
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    text
}

impl View for Board {
    fn start(&mut self, tracker: &Tracker) {
        self.refresh(tracker);
    }

    fn changed(&mut self, tracker: &Tracker, _process: i64) {
        self.refresh(tracker);
    }

    fn output(&mut self, tracker: &Tracker, process: i64, _text: &str) {
        if tracker
            .process(process)
            .is_some_and(|p| p.status == "error")
        {
            self.show_failures(tracker, self.lanes.len());
        }
    }

    fn finish(&mut self, tracker: &Tracker) {
        self.refresh(tracker);
        self.settle(tracker);
        self.close();
    }

    fn interrupted(&mut self, _tracker: &Tracker) {
        for lane in &self.lanes {
            lane.bar.abandon();
        }
        self.close();
    }
}

impl Board {
    fn close(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            waiting.abandon();
        }
        if let Some(bar) = &self.failures {
            bar.abandon();
        }
        self.title.abandon();
        // indicatif leaves the cursor on the board's last line: end it, then leave a blank
        // line before what follows.
        println!("\n");
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn remote_output_cannot_move_the_cursor() {
        assert_eq!(printable("\x1b[31mred\x1b[0m\tdone\r\x07"), "red    done");
        assert_eq!(printable("héllo ✓"), "héllo ✓");
    }
}
