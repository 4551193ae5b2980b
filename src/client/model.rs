//! What the client reads from the API's answers: only the fields it shows or acts on.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub monitor: Option<String>,
    #[serde(default)]
    pub last_deployment_status: Option<String>,
    #[serde(default)]
    pub new_york_status: Option<String>,
    #[serde(default)]
    pub london_status: Option<String>,
    #[serde(default)]
    pub singapore_status: Option<String>,
    #[serde(default)]
    pub has_missing_heartbeats: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub id: i64,
    pub status: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub commit_branch: Option<String>,
    #[serde(default)]
    pub commit_hash: Option<String>,
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub processes: Option<Vec<Process>>,
}

impl Deployment {
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "pending" | "running")
    }

    /// `commit_words` between `before` and `after`, or nothing while the commit is unknown.
    pub fn commit_between(&self, before: &str, after: &str) -> String {
        self.commit_words()
            .map(|words| format!("{before}{words}{after}"))
            .unwrap_or_default()
    }

    /// The commit and its message's first line, once the deployment knows them (it resolves
    /// its commit when it starts).
    pub fn commit_words(&self) -> Option<String> {
        if self.commit_hash.is_none() && self.commit_branch.is_none() {
            return None;
        }
        let message = headline(self.commit_message.as_deref(), 60);
        Some(if message.is_empty() {
            self.commit()
        } else {
            format!("{} \"{message}\"", self.commit())
        })
    }

    /// The commit as a person names it: branch and short hash.
    pub fn commit(&self) -> String {
        let hash = self.commit_hash.as_deref().map(short_hash).unwrap_or("-");
        match &self.commit_branch {
            Some(branch) => format!("{branch}@{hash}"),
            None => hash.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Process {
    pub id: i64,
    #[serde(default)]
    pub server_name: Option<String>,
    pub sequence: i64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub finished_at: Option<i64>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
}

/// Steps that run on no server (the health gate) are shown on a line of Slipway's own.
pub const NO_SERVER: &str = "slipway";

impl Process {
    pub fn lane(&self) -> &str {
        self.server_name.as_deref().unwrap_or(NO_SERVER)
    }

    /// Ended, one way or another.
    pub fn is_done(&self) -> bool {
        !matches!(self.status.as_str(), "pending" | "running")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Server {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub connect_as: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub port: Option<serde_json::Value>,
    #[serde(default)]
    pub deployment_path: Option<String>,
    #[serde(default)]
    pub connection_status: Option<String>,
    #[serde(default)]
    pub receives_code_deployments: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    pub id: i64,
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub live: bool,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub deployment_id: Option<i64>,
    #[serde(default)]
    pub commit_hash: Option<String>,
    #[serde(default)]
    pub commit_branch: Option<String>,
    #[serde(default)]
    pub commit_message: Option<String>,
}

/// A deployment's output as `GET …/output` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessOutput {
    pub id: i64,
    #[serde(default)]
    pub server_name: Option<String>,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub output: String,
}

/// `word` as it can be pasted into a shell.
pub fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub fn short_hash(hash: &str) -> &str {
    hash.get(..7).unwrap_or(hash)
}

/// The first line of a commit message, cut to `width` characters.
pub fn headline(message: Option<&str>, width: usize) -> String {
    let line = message.unwrap_or("").lines().next().unwrap_or("");
    cut(line, width)
}

/// `text` cut to `width` characters, with an ellipsis when it was longer.
pub fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_word("site-1"), "site-1");
        assert_eq!(shell_word("My site"), "'My site'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
