//! The fixed vocabularies of the Envoyer API: providers, project types, PHP versions, actions,
//! hook timings, heartbeat intervals and notification types.

pub const PROJECT_TYPES: &[&str] = &["laravel-5", "laravel-4", "other"];

/// Laravel projects get a shared `storage` directory linked into every release.
pub fn project_type_is_laravel(project_type: &str) -> bool {
    project_type.starts_with("laravel")
}

pub const PHP_VERSIONS: &[&str] = &[
    "php84", "php83", "php82", "php81", "php80", "php74", "php73", "php72", "php71", "php70",
    "php56",
];

pub const HEARTBEAT_INTERVALS: &[i64] = &[10, 30, 60, 1440, 10080, 44640];

pub const HOOK_TIMINGS: &[&str] = &["before", "after"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Github,
    Bitbucket,
    Gitlab,
    GitlabSelf,
    /// Slipway's own: `repository` is any git URL, used as is.
    Custom,
}

impl Provider {
    pub const ALL: [Provider; 5] = [
        Provider::Github,
        Provider::Bitbucket,
        Provider::Gitlab,
        Provider::GitlabSelf,
        Provider::Custom,
    ];

    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::Bitbucket => "bitbucket",
            Provider::Gitlab => "gitlab",
            Provider::GitlabSelf => "gitlab-self",
            Provider::Custom => "custom",
        }
    }

    /// Whether `repository` has the form this provider expects: `owner/name` (GitLab allows
    /// nested groups; self-hosted GitLab starts with its host name), or a git URL for custom.
    pub fn accepts_repository(self, repository: &str) -> bool {
        match self {
            Provider::Github | Provider::Bitbucket => {
                let parts: Vec<&str> = repository.split('/').collect();
                parts.len() == 2 && parts.iter().all(|p| is_path_segment(p))
            }
            Provider::Gitlab => {
                let parts: Vec<&str> = repository.split('/').collect();
                parts.len() >= 2 && parts.iter().all(|p| is_path_segment(p))
            }
            Provider::GitlabSelf => {
                let parts: Vec<&str> = repository.split('/').collect();
                parts.len() >= 3
                    && super::validation::is_host(parts[0])
                    && parts[1..].iter().all(|p| is_path_segment(p))
            }
            Provider::Custom => is_git_url(repository),
        }
    }

    /// The SSH clone URL shown as `repository` (custom URLs are used as given).
    pub fn clone_url(self, repository: &str) -> String {
        let on = |host: &str, path: &str| format!("git@{host}:{path}.git");
        match self {
            Provider::Github => on("github.com", repository),
            Provider::Bitbucket => on("bitbucket.org", repository),
            Provider::Gitlab => on("gitlab.com", repository),
            Provider::GitlabSelf => {
                let (host, path) = repository.split_once('/').unwrap_or((repository, ""));
                on(host, path)
            }
            Provider::Custom => repository.to_owned(),
        }
    }
}

fn is_path_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 100
        && !segment.starts_with(['.', '-'])
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// An `ssh://`, `https://`, `http://`, `git://` or `file://` URL, or scp-like `user@host:path`,
/// with nothing in it that a shell or git could read as an option or a second word.
pub fn is_git_url(value: &str) -> bool {
    if value.is_empty()
        || value.len() > 1024
        || value.starts_with('-')
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "`$;|&<>'\"\\".contains(c))
    {
        return false;
    }
    if let Ok(url) = url::Url::parse(value) {
        // Credentials in a URL would be stored and shown in plain text: the deploy key is the
        // way to authenticate.
        if url.password().is_some() {
            return false;
        }
        return match url.scheme() {
            "ssh" | "https" | "http" | "git" => url.host_str().is_some(),
            "file" => url.path().len() > 1,
            _ => false,
        };
    }
    // scp-like: user@host:path
    match value.split_once(':') {
        Some((user_host, path)) => {
            let host = user_host.rsplit('@').next().unwrap_or(user_host);
            !path.is_empty() && !path.starts_with('-') && super::validation::is_host(host)
        }
        None => false,
    }
}

/// The local path of a `file://` repository URL, when it is one and has no `.` or `..`
/// components.
pub fn local_repository_path(value: &str) -> Option<std::path::PathBuf> {
    let url = url::Url::parse(value).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    let path = url.to_file_path().ok()?;
    let clean = path.components().all(|c| {
        matches!(
            c,
            std::path::Component::RootDir | std::path::Component::Normal(_)
        )
    });
    (clean && !value.contains("/../") && !value.contains("/./")).then_some(path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub id: i64,
    pub name: &'static str,
    pub view: &'static str,
}

/// The id of Activate New Release, the action a rollback runs.
pub const ACTIVATE: i64 = 3;

pub const ACTIONS: [Action; 4] = [
    Action {
        id: 1,
        name: "Clone New Release",
        view: "scripts.deployments.CloneNewRelease",
    },
    Action {
        id: 2,
        name: "Install Composer Dependencies",
        view: "scripts.deployments.InstallComposerDependencies",
    },
    Action {
        id: 3,
        name: "Activate New Release",
        view: "scripts.deployments.ActivateNewRelease",
    },
    Action {
        id: 4,
        name: "Purge Old Releases",
        view: "scripts.deployments.PurgeOldReleases",
    },
];

pub fn action(id: i64) -> Option<Action> {
    ACTIONS.iter().copied().find(|a| a.id == id)
}

/// When the fixed actions were "created", as every listing shows them.
pub const ACTIONS_CREATED_AT: crate::domain::time::Timestamp =
    crate::domain::time::Timestamp(1_763_769_600_000_000); // 2025-11-22T00:00:00Z

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationType {
    Email,
    Slack,
    Discord,
    Teams,
}

impl NotificationType {
    pub const ALL: [NotificationType; 4] = [
        NotificationType::Email,
        NotificationType::Slack,
        NotificationType::Discord,
        NotificationType::Teams,
    ];

    pub fn parse(text: &str) -> Option<NotificationType> {
        NotificationType::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Email => "email",
            NotificationType::Slack => "slack",
            NotificationType::Discord => "discord",
            NotificationType::Teams => "teams",
        }
    }

    /// The request field that carries this channel's address.
    pub fn address_field(self) -> &'static str {
        match self {
            NotificationType::Email => "email_address",
            NotificationType::Slack => "slack_webhook",
            NotificationType::Discord => "discord_webhook",
            NotificationType::Teams => "teams_webhook",
        }
    }

    /// The key under `options` that shows the address.
    pub fn option_key(self) -> &'static str {
        match self {
            NotificationType::Email => "email",
            _ => "webhook",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_clone_urls() {
        assert!(Provider::Github.accepts_repository("laravel/laravel"));
        assert!(!Provider::Github.accepts_repository("laravel"));
        assert!(!Provider::Github.accepts_repository("a/b/c"));
        assert!(Provider::Gitlab.accepts_repository("group/sub/app"));
        assert!(Provider::GitlabSelf.accepts_repository("git.example.com/group/app"));
        assert_eq!(
            Provider::Github.clone_url("laravel/laravel"),
            "git@github.com:laravel/laravel.git"
        );
        assert_eq!(
            Provider::GitlabSelf.clone_url("git.example.com/group/app"),
            "git@git.example.com:group/app.git"
        );
        assert!(Provider::Custom.accepts_repository("file:///srv/git/app.git"));
        assert!(Provider::Custom.accepts_repository("https://example.com/app.git"));
        assert!(Provider::Custom.accepts_repository("git@example.com:team/app.git"));
        assert!(!Provider::Custom.accepts_repository("--upload-pack=evil"));
        assert!(!Provider::Custom.accepts_repository("https://x.com/$(id)"));
        assert!(!Provider::Custom.accepts_repository("javascript:alert(1)"));
        assert!(!Provider::Custom.accepts_repository("https://u:glpat-secret@example.com/a.git"));
        assert_eq!(
            local_repository_path("file:///srv/git/app.git").as_deref(),
            Some(std::path::Path::new("/srv/git/app.git"))
        );
        assert_eq!(local_repository_path("file:///srv/../etc/x.git"), None);
        assert_eq!(local_repository_path("https://example.com/a.git"), None);
    }
}
