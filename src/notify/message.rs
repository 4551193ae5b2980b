//! What a notification says, independent of the channel it goes out on.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    DeploymentFinished,
    DeploymentFailed,
    DeploymentCancelled,
    /// The health gate failed after activation, and the servers were switched back.
    DeploymentRolledBack,
    RolledBack,
    RollbackFailed,
    HeartbeatMissing,
    HeartbeatRecovered,
    HealthCheckFailing,
    HealthCheckRecovered,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::DeploymentFinished => "deployment_finished",
            Event::DeploymentFailed => "deployment_failed",
            Event::DeploymentCancelled => "deployment_cancelled",
            Event::DeploymentRolledBack => "deployment_rolled_back",
            Event::RolledBack => "rolled_back",
            Event::RollbackFailed => "rollback_failed",
            Event::HeartbeatMissing => "heartbeat_missing",
            Event::HeartbeatRecovered => "heartbeat_recovered",
            Event::HealthCheckFailing => "health_check_failing",
            Event::HealthCheckRecovered => "health_check_recovered",
        }
    }

    /// Good news is shown green, bad news red, a cancellation grey.
    pub fn tone(self) -> Tone {
        match self {
            Event::DeploymentFinished
            | Event::RolledBack
            | Event::HeartbeatRecovered
            | Event::HealthCheckRecovered => Tone::Good,
            Event::DeploymentCancelled => Tone::Neutral,
            Event::DeploymentFailed
            | Event::DeploymentRolledBack
            | Event::RollbackFailed
            | Event::HeartbeatMissing
            | Event::HealthCheckFailing => Tone::Bad,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Neutral,
    Bad,
}

impl Tone {
    pub fn rgb(self) -> u32 {
        match self {
            Tone::Good => 0x2e_a0_43,
            Tone::Neutral => 0x8a_8f_98,
            Tone::Bad => 0xd0_3b_3b,
        }
    }
}

/// Keeps every message within the chat services' limits (Slack: 2,000 characters a field;
/// Discord: 1,024 a field and 6,000 a message), which would otherwise refuse it for good.
pub const MAX_FACT_CHARS: usize = 1000;

/// The first `max_chars` characters of `text`.
pub fn clip(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// One notification. Stored in the outbox as JSON, so fields only grow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub event: Event,
    pub project_id: i64,
    pub project: String,
    /// What the event is about beyond the project: a heartbeat's name, a monitor URL.
    #[serde(default)]
    pub subject: Option<String>,
    /// Short commit hash and branch of a deployment.
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    pub status: String,
    #[serde(default)]
    pub detail: Option<String>,
    pub link: String,
}

impl Message {
    pub fn title(&self) -> String {
        let what = match self.event {
            Event::DeploymentFinished => "Deployment finished",
            Event::DeploymentFailed => "Deployment failed",
            Event::DeploymentCancelled => "Deployment cancelled",
            Event::DeploymentRolledBack => {
                return format!(
                    "Deployment rolled back: health gate failed ({})",
                    self.project
                );
            }
            Event::RolledBack => {
                return format!(
                    "Rolled back to {}: {}",
                    self.subject.as_deref().unwrap_or("the previous release"),
                    self.project
                );
            }
            Event::RollbackFailed => "Rollback failed",
            Event::HeartbeatMissing => "Heartbeat missing",
            Event::HeartbeatRecovered => "Heartbeat recovered",
            Event::HealthCheckFailing => "Health check failing",
            Event::HealthCheckRecovered => "Health check recovered",
        };
        match &self.subject {
            Some(subject) if self.event_is_heartbeat() => {
                format!("{what}: {subject} ({})", self.project)
            }
            _ => format!("{what}: {}", self.project),
        }
    }

    fn event_is_heartbeat(&self) -> bool {
        matches!(
            self.event,
            Event::HeartbeatMissing | Event::HeartbeatRecovered
        )
    }

    /// The labelled values every channel shows, in order; empty ones left out, long ones cut
    /// to [`MAX_FACT_CHARS`].
    pub fn facts(&self) -> Vec<(&'static str, &str)> {
        let subject_label = match self.event {
            Event::HeartbeatMissing | Event::HeartbeatRecovered => "Heartbeat",
            Event::RolledBack | Event::RollbackFailed => "Release",
            _ => "Monitor",
        };
        [
            ("Project", Some(self.project.as_str())),
            (subject_label, self.subject.as_deref()),
            ("Commit", self.commit.as_deref()),
            ("Author", self.author.as_deref()),
            ("Status", Some(self.status.as_str())),
            ("Detail", self.detail.as_deref()),
        ]
        .into_iter()
        .filter_map(|(label, value)| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| (label, clip(v, MAX_FACT_CHARS)))
        })
        .collect()
    }

    /// The words on the link button.
    pub fn link_label(&self) -> &'static str {
        match self.event {
            Event::DeploymentFinished
            | Event::DeploymentFailed
            | Event::DeploymentCancelled
            | Event::DeploymentRolledBack
            | Event::RolledBack
            | Event::RollbackFailed => "View deployment",
            Event::HeartbeatMissing | Event::HeartbeatRecovered => "View heartbeat",
            Event::HealthCheckFailing | Event::HealthCheckRecovered => "View project",
        }
    }
}
