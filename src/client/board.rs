//! A deployment followed on a terminal: a live board with one line per server (a spinner,
//! the server, a progress bar over its steps, the time since its first step began, the step
//! it is on) and, below it, the output of the steps that failed.

use std::time::Duration;

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
}

struct LaneBar {
    name: String,
    bar: ProgressBar,
    started: bool,
    ended: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum LaneState {
    Waiting,
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl Board {
    pub fn new() -> Board {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
        let title = multi.add(ProgressBar::new(0));
        title
            .set_style(ProgressStyle::with_template("{wide_msg:.bold}").expect("a valid template"));
        Board {
            multi,
            title,
            lanes: Vec::new(),
            failures: None,
            waiting: None,
        }
    }

    fn width() -> usize {
        usize::from(console::Term::stdout().size().1).max(40)
    }

    fn refresh(&mut self, tracker: &Tracker) {
        self.title.set_message(tracker.title());
        let lanes = tracker.lanes();
        if lanes.is_empty() {
            if self.waiting.is_none() && tracker.deployment.is_open() {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed}")
                        .expect("a valid template")
                        .tick_chars(SPINNER),
                );
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
        let name_width = lanes
            .iter()
            .map(|l| l.name.chars().count())
            .max()
            .unwrap_or(0);
        for lane in &lanes {
            let index = match self.lanes.iter().position(|l| l.name == lane.name) {
                Some(index) => index,
                None => {
                    let bar = self.multi.add(ProgressBar::new(lane.steps.len() as u64));
                    bar.set_style(lane_style(LaneState::Waiting, name_width, lane.name));
                    bar.enable_steady_tick(Duration::from_millis(100));
                    self.lanes.push(LaneBar {
                        name: lane.name.to_owned(),
                        bar,
                        started: false,
                        ended: false,
                    });
                    self.lanes.len() - 1
                }
            };
            let shown = &mut self.lanes[index];
            if shown.ended {
                continue;
            }
            let (state, message) = describe(tracker, lane);
            let bar = &shown.bar;
            bar.set_length(lane.steps.len() as u64);
            bar.set_position(lane.steps.iter().filter(|p| p.is_done()).count() as u64);
            if state != LaneState::Waiting && !shown.started {
                shown.started = true;
                bar.reset_elapsed();
            }
            bar.set_message(message);
            if matches!(
                state,
                LaneState::Finished | LaneState::Failed | LaneState::Cancelled
            ) {
                shown.ended = true;
                bar.set_style(lane_style(state, name_width, lane.name));
                bar.set_prefix(match state {
                    LaneState::Finished => "✔",
                    LaneState::Failed => "✖",
                    _ => "■",
                });
                bar.abandon();
            }
        }
        self.show_failures(tracker);
    }

    fn show_failures(&mut self, tracker: &Tracker) {
        let failed: Vec<&Process> = tracker
            .processes
            .iter()
            .filter(|p| p.status == "error")
            .collect();
        if failed.is_empty() {
            return;
        }
        let width = Board::width().saturating_sub(4);
        let mut text = String::new();
        let mut shown_before: Vec<(&str, &str)> = Vec::new();
        for process in failed {
            let output = tracker.output(process.id);
            // The same step failing the same way on several servers is shown once.
            if shown_before.contains(&(process.name.as_str(), output)) {
                text.push_str(&format!(
                    "\n── {} failed on {} too, with the same output ──\n",
                    process.name,
                    process.lane()
                ));
                continue;
            }
            shown_before.push((&process.name, output));
            text.push_str(&format!(
                "\n── {} failed on {} ──\n",
                process.name,
                process.lane()
            ));
            let lines: Vec<&str> = output.lines().collect();
            let shown = &lines[lines.len().saturating_sub(FAILED_OUTPUT_LINES)..];
            if shown.is_empty() {
                text.push_str("  (no output)\n");
            }
            for line in shown {
                text.push_str("  ");
                text.push_str(&cut(&line.replace('\t', "    "), width));
                text.push('\n');
            }
        }
        let text = text.trim_end().to_owned();
        let bar = self.failures.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
            bar
        });
        bar.set_message(text);
    }
}

/// A lane's style: the server's name is part of the template, so that the message is free
/// for the step.
fn lane_style(state: LaneState, name_width: usize, name: &str) -> ProgressStyle {
    let (mark, colours) = match state {
        LaneState::Waiting | LaneState::Running => ("{spinner:.cyan}", "cyan/blue"),
        LaneState::Finished => ("{prefix:.green}", "green/blue"),
        LaneState::Failed => ("{prefix:.red}", "red/blue"),
        LaneState::Cancelled => ("{prefix:.yellow}", "yellow/blue"),
    };
    let name = format!("{name:<name_width$}")
        .replace('{', "{{")
        .replace('}', "}}");
    let template = format!(
        "{mark} {name}  [{{bar:24.{colours}}}] {{pos}}/{{len}} {{elapsed:>4}}  {{wide_msg}}"
    );
    ProgressStyle::with_template(&template)
        .expect("the board's template is valid")
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
            self.show_failures(tracker);
        }
    }

    fn finish(&mut self, tracker: &Tracker) {
        self.refresh(tracker);
        self.interrupted(tracker);
    }

    fn interrupted(&mut self, _tracker: &Tracker) {
        if let Some(waiting) = self.waiting.take() {
            waiting.abandon();
        }
        for lane in &self.lanes {
            if !lane.ended {
                lane.bar.abandon();
            }
        }
        if let Some(bar) = &self.failures {
            bar.abandon();
        }
        self.title.abandon();
        // indicatif leaves the cursor on the board's last line: end it, then leave a blank
        // line before the summary.
        println!("\n");
    }
}
