//! Typed ids, so that a server id is never passed where a project id is expected.

macro_rules! typed_id {
    ($($name:ident),* $(,)?) => {$(
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                $name(v)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

typed_id!(
    UserId,
    TokenId,
    ProjectId,
    ServerId,
    HookId,
    DeploymentId,
    HeartbeatId,
    NotificationId,
    EnvironmentId,
    ReleaseId
);
