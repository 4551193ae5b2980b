//! A deployment followed where no one watches a terminal (a CI log): one plain line per
//! event, each output line prefixed with its server's name.

use std::collections::HashMap;
use std::io::Write;

use super::follow::{Tracker, View};

#[derive(Default)]
pub struct Plain {
    /// Each step's output after its last newline, printed once the line is complete.
    partial: HashMap<i64, String>,
}

impl Plain {
    fn flush(&mut self, tracker: &Tracker, process: i64) {
        if let Some(rest) = self.partial.remove(&process)
            && !rest.is_empty()
        {
            print_line(tracker, process, &rest);
        }
    }
}

fn lane(tracker: &Tracker, process: i64) -> String {
    tracker
        .process(process)
        .map(|p| p.lane().to_owned())
        .unwrap_or_default()
}

fn print_line(tracker: &Tracker, process: i64, line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "[{}] {}",
        lane(tracker, process),
        line.trim_end_matches('\r')
    );
    let _ = out.flush();
}

impl View for Plain {
    fn start(&mut self, tracker: &Tracker) {
        println!("{}", tracker.title());
        if tracker.deployment.status == "pending" {
            println!("Waiting for the deployment to start.");
        }
    }

    fn changed(&mut self, tracker: &Tracker, process: i64) {
        let Some(step) = tracker.process(process) else {
            return;
        };
        if step.status != "running" {
            self.flush(tracker, process);
        }
        let what = match step.status.as_str() {
            "running" => "started",
            "finished" => "finished",
            "error" => "failed",
            other => other,
        };
        println!("==> [{}] {} {what}", step.lane(), step.name);
        let _ = std::io::stdout().flush();
    }

    fn output(&mut self, tracker: &Tracker, process: i64, text: &str) {
        let buffer = self.partial.entry(process).or_default();
        buffer.push_str(text);
        let Some(end) = buffer.rfind('\n') else {
            return;
        };
        let complete: String = buffer.drain(..=end).collect();
        for line in complete.lines() {
            print_line(tracker, process, line);
        }
    }

    fn finish(&mut self, tracker: &Tracker) {
        let pending: Vec<i64> = self.partial.keys().copied().collect();
        for process in pending {
            self.flush(tracker, process);
        }
    }

    fn interrupted(&mut self, tracker: &Tracker) {
        self.finish(tracker);
    }
}
