//! The words a deployment's record is made of: its status, its kind, what it was asked to
//! ship, its processes' statuses and its release's state. Decoded from the database's text at
//! the border, so that the rest of the code matches on enums, not on string literals.

/// An enum stored as one of a fixed set of words.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $word:literal),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),*
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(word: String) -> Result<$name, String> {
                $name::parse(&word)
                    .ok_or_else(|| format!("{word:?} is not a {}", stringify!($name)))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($word),*]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// Where a deployment stands.
    DeploymentStatus {
        Pending = "pending",
        Running = "running",
        Finished = "finished",
        Error = "error",
        Cancelled = "cancelled",
    }
);

// A new deployment waits; `word_enum!` derives no Default of its own.
#[allow(clippy::derivable_impls)]
impl Default for DeploymentStatus {
    fn default() -> Self {
        DeploymentStatus::Pending
    }
}

impl DeploymentStatus {
    /// Still waiting or running.
    pub fn is_open(self) -> bool {
        matches!(self, DeploymentStatus::Pending | DeploymentStatus::Running)
    }
}

word_enum!(
    /// What a deployment does.
    DeploymentKind {
        /// Builds a new release from a commit and activates it.
        Deploy = "deploy",
        /// Activates a release that is already on every server.
        Rollback = "rollback",
        /// Runs an environment's on_stop script.
        Stop = "stop",
    }
);

word_enum!(
    /// How a deployment names its commit: a branch, a tag or a commit hash.
    RefKind {
        Branch = "branch",
        Tag = "tag",
        Sha = "sha",
    }
);

word_enum!(
    /// Where one step of a deployment on one server stands.
    ProcessStatus {
        Pending = "pending",
        Running = "running",
        Finished = "finished",
        Error = "error",
        Cancelled = "cancelled",
        Skipped = "skipped",
    }
);

word_enum!(
    /// A release's life: built, then live, then kept for rollback until retention purges it;
    /// or failed, never to be a rollback target.
    ReleaseState {
        Building = "building",
        Ready = "ready",
        Live = "live",
        Failed = "failed",
        Purged = "purged",
    }
);

/// How a deployment ended: its final status, why when it did not finish, and whether the
/// health gate switched the servers back.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub status: DeploymentStatus,
    pub error: Option<String>,
    pub rolled_back: bool,
}

impl Ending {
    pub fn finished() -> Ending {
        Ending {
            status: DeploymentStatus::Finished,
            error: None,
            rolled_back: false,
        }
    }

    pub fn error(reason: impl Into<String>) -> Ending {
        Ending {
            status: DeploymentStatus::Error,
            error: Some(reason.into()),
            rolled_back: false,
        }
    }

    /// Cancelled before anything went live.
    pub fn cancelled() -> Ending {
        Ending {
            status: DeploymentStatus::Cancelled,
            error: None,
            rolled_back: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_words_are_refused() {
        for status in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(status.as_str()), Some(*status));
        }
        for state in ReleaseState::ALL {
            assert_eq!(
                ReleaseState::try_from(state.as_str().to_owned()),
                Ok(*state)
            );
        }
        assert_eq!(
            DeploymentKind::parse("rollback"),
            Some(DeploymentKind::Rollback)
        );
        assert!(ProcessStatus::try_from("done".to_owned()).is_err());
        assert_eq!(RefKind::Sha.to_string(), "sha");
    }
}
