//! The rules of releases: which one is live, which one was live before it, which ones are
//! rollback targets, and which ones retention keeps.

use std::collections::HashSet;

use crate::db::releases::{Placement, Release};
use crate::domain::deployment::ReleaseState;
use crate::domain::ids::{ReleaseId, ServerId};

/// An environment's releases (newest first) and where each one is.
pub struct History {
    pub releases: Vec<Release>,
    pub placements: Vec<Placement>,
}

impl History {
    /// The servers of `servers` on which the release is not complete.
    pub fn missing_on(&self, release: ReleaseId, servers: &[ServerId]) -> Vec<ServerId> {
        servers
            .iter()
            .copied()
            .filter(|server| {
                !self
                    .placements
                    .iter()
                    .any(|p| p.release_id == release && p.server_id == *server && p.present)
            })
            .collect()
    }

    /// Whether `current` points at the release on at least one server.
    pub fn is_live(&self, release: ReleaseId) -> bool {
        self.placements
            .iter()
            .any(|p| p.release_id == release && p.live)
    }

    /// The release that is live now: the most recently activated one that is live anywhere.
    pub fn live(&self) -> Option<&Release> {
        self.releases
            .iter()
            .filter(|r| r.activated_at.is_some() && self.is_live(r.id))
            .max_by_key(|r| r.activated_at)
    }

    /// The release that was live before the current one, if it can be gone back to: the most
    /// recently activated release that is not live now, not failed and not purged.
    pub fn previous(&self) -> Option<&Release> {
        let live = self.live().map(|r| r.id);
        self.releases
            .iter()
            .filter(|r| Some(r.id) != live && r.activated_at.is_some())
            .filter(|r| r.state == ReleaseState::Ready)
            .max_by_key(|r| r.activated_at)
    }

    /// Why the release cannot be rolled back to on `servers`, if it cannot.
    pub fn refusal(&self, release: &Release, servers: &[ServerId]) -> Option<Refusal> {
        let live_everywhere = !servers.is_empty()
            && servers.iter().all(|server| {
                self.placements
                    .iter()
                    .any(|p| p.release_id == release.id && p.server_id == *server && p.live)
            });
        if live_everywhere {
            return Some(Refusal::AlreadyLive);
        }
        match release.state {
            ReleaseState::Failed => return Some(Refusal::Failed),
            ReleaseState::Purged => return Some(Refusal::Purged),
            ReleaseState::Building => return Some(Refusal::Building),
            ReleaseState::Ready | ReleaseState::Live => {}
        }
        let missing = self.missing_on(release.id, servers);
        (!missing.is_empty()).then_some(Refusal::Missing(missing))
    }

    /// What retention does once `new` is live: the names kept on the servers, and the
    /// recorded releases it removes. Kept: `new`, the release live before it, and the newest
    /// complete releases up to `retain` in all (counting `new`). Failed and incomplete
    /// releases are not counted, and go.
    pub fn retention(
        &self,
        new: ReleaseId,
        servers: &[ServerId],
        retain: usize,
    ) -> (Vec<String>, Vec<ReleaseId>) {
        let mut keep: HashSet<ReleaseId> = HashSet::from([new]);
        if let Some(live) = self.live() {
            keep.insert(live.id);
        }
        let complete = self
            .releases
            .iter()
            .filter(|r| r.id != new)
            .filter(|r| matches!(r.state, ReleaseState::Ready | ReleaseState::Live))
            .filter(|r| self.missing_on(r.id, servers).is_empty());
        for release in complete.take(retain.saturating_sub(1)) {
            keep.insert(release.id);
        }
        let names = self
            .releases
            .iter()
            .filter(|r| keep.contains(&r.id))
            .map(|r| r.name.clone())
            .collect();
        let purged = self
            .releases
            .iter()
            .filter(|r| !keep.contains(&r.id) && r.state != ReleaseState::Purged)
            .filter(|r| {
                self.placements
                    .iter()
                    .any(|p| p.release_id == r.id && p.present)
            })
            .map(|r| r.id)
            .collect();
        (names, purged)
    }
}

/// Why a release is no rollback target.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    AlreadyLive,
    Failed,
    Purged,
    Building,
    /// Not complete on these servers.
    Missing(Vec<ServerId>),
}

impl Refusal {
    /// Why `release` is no target, as a deployment's recorded error.
    pub fn message(&self, release: &Release, servers: &[crate::db::servers::Server]) -> String {
        format!(
            "Release {} cannot be rolled back to: {}.",
            release.name,
            self.describe(servers)
        )
    }

    /// Why a release is no target, naming servers by their names.
    pub fn describe(&self, servers: &[crate::db::servers::Server]) -> String {
        match self {
            Refusal::AlreadyLive => "it is already live".to_owned(),
            Refusal::Failed => "its deployment failed".to_owned(),
            Refusal::Purged => "it was purged from the servers".to_owned(),
            Refusal::Building => "it is still being built".to_owned(),
            Refusal::Missing(missing) => {
                let names: Vec<&str> = missing
                    .iter()
                    .map(|id| {
                        servers
                            .iter()
                            .find(|s| s.id == *id)
                            .map_or("a removed server", |s| s.name.as_str())
                    })
                    .collect();
                format!("it is missing or incomplete on {}", names.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ProjectId;
    use crate::domain::time::Timestamp;

    fn release(id: i64, state: ReleaseState, activated: Option<i64>) -> Release {
        Release {
            id: ReleaseId(id),
            project_id: ProjectId(1),
            environment: "production".into(),
            deployment_id: Some(id),
            name: format!("2026010100000{id}"),
            commit_hash: None,
            commit_branch: None,
            commit_message: None,
            state,
            created_at: Timestamp(id),
            activated_at: activated,
        }
    }

    fn placed(release: i64, server: i64, present: bool, live: bool) -> Placement {
        Placement {
            release_id: ReleaseId(release),
            server_id: ServerId(server),
            present,
            live,
        }
    }

    /// Releases 1–4 on servers 1 and 2: 4 live, 3 failed, 2 live before 4, 1 older; 1 is
    /// missing on server 2.
    fn history() -> History {
        History {
            releases: vec![
                release(4, ReleaseState::Live, Some(40)),
                release(3, ReleaseState::Failed, None),
                release(2, ReleaseState::Ready, Some(20)),
                release(1, ReleaseState::Ready, Some(10)),
            ],
            placements: vec![
                placed(4, 1, true, true),
                placed(4, 2, true, true),
                placed(3, 1, false, false),
                placed(3, 2, false, false),
                placed(2, 1, true, false),
                placed(2, 2, true, false),
                placed(1, 1, true, false),
            ],
        }
    }

    #[test]
    fn live_previous_and_targets() {
        let history = history();
        let servers = [ServerId(1), ServerId(2)];
        assert_eq!(history.live().map(|r| r.id), Some(ReleaseId(4)));
        assert_eq!(history.previous().map(|r| r.id), Some(ReleaseId(2)));
        let of = |id: usize| &history.releases[4 - id];
        assert_eq!(history.refusal(of(2), &servers), None);
        assert_eq!(history.refusal(of(4), &servers), Some(Refusal::AlreadyLive));
        assert_eq!(history.refusal(of(3), &servers), Some(Refusal::Failed));
        assert_eq!(
            history.refusal(of(1), &servers),
            Some(Refusal::Missing(vec![ServerId(2)]))
        );
    }

    #[test]
    fn a_release_live_on_some_servers_only_can_be_rolled_back_to() {
        let mut history = history();
        // Server 2 was switched back to release 2 by hand.
        history.placements[1].live = false;
        history.placements[5].live = true;
        let release = history.releases[0].clone();
        assert_eq!(history.refusal(&release, &[ServerId(1), ServerId(2)]), None);
    }

    #[test]
    fn retention_keeps_the_new_the_live_and_complete_ones_only() {
        let mut history = history();
        history
            .releases
            .insert(0, release(5, ReleaseState::Building, None));
        history.placements.push(placed(5, 1, true, false));
        history.placements.push(placed(5, 2, true, false));
        let servers = [ServerId(1), ServerId(2)];
        // retain 1: the new one and the one live before it (4), nothing else.
        let (names, purged) = history.retention(ReleaseId(5), &servers, 1);
        assert_eq!(names, ["20260101000005", "20260101000004"]);
        assert_eq!(purged, [ReleaseId(2), ReleaseId(1)]);
        // retain 3: 4 and 2 are complete; 3 failed and 1 incomplete do not count.
        let (names, purged) = history.retention(ReleaseId(5), &servers, 3);
        assert_eq!(
            names,
            ["20260101000005", "20260101000004", "20260101000002"]
        );
        assert_eq!(purged, [ReleaseId(1)]);
    }
}
