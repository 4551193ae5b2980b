//! The steps of a deployment: for each action, its "before" hooks, the action, its "after"
//! hooks. Each step names the servers it runs on.

use crate::db::servers::Server;
use crate::domain::catalog::ACTIONS;
use crate::domain::ids::{HookId, ServerId};
use crate::services::hooks::HookView;

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    CloneRelease,
    InstallComposer,
    Activate,
    Purge,
    Hook {
        id: HookId,
        script: String,
        run_as: String,
    },
    /// An environment's on_stop script, run as each server's user.
    Teardown {
        script: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub action_id: i64,
    pub work: Work,
    pub servers: Vec<ServerId>,
}

impl Step {
    pub fn hook_id(&self) -> Option<HookId> {
        match &self.work {
            Work::Hook { id, .. } => Some(*id),
            _ => None,
        }
    }
}

pub fn plan(servers: &[Server], hooks: &[HookView], install_dependencies: bool) -> Vec<Step> {
    let code_servers: Vec<ServerId> = servers
        .iter()
        .filter(|s| s.receives_code_deployments)
        .map(|s| s.id)
        .collect();
    let hooks_of = |action_id: i64, timing: &str| -> Vec<Step> {
        hooks
            .iter()
            .filter(|h| h.hook.action_id == action_id && h.hook.timing == timing)
            .map(|h| Step {
                name: h.hook.name.clone(),
                action_id,
                work: Work::Hook {
                    id: h.hook.id,
                    script: h.hook.script.clone(),
                    run_as: h.hook.run_as.clone(),
                },
                // Hooks run on their chosen servers that still exist, in the project's order.
                servers: servers
                    .iter()
                    .map(|s| s.id)
                    .filter(|id| h.servers.contains(id))
                    .collect(),
            })
            .filter(|step| !step.servers.is_empty())
            .collect()
    };
    let mut steps = Vec::new();
    for action in ACTIONS {
        steps.extend(hooks_of(action.id, "before"));
        let work = match action.id {
            1 => Some(Work::CloneRelease),
            2 if install_dependencies => Some(Work::InstallComposer),
            3 => Some(Work::Activate),
            4 => Some(Work::Purge),
            _ => None,
        };
        if let Some(work) = work
            && !code_servers.is_empty()
        {
            steps.push(Step {
                name: action.name.to_owned(),
                action_id: action.id,
                work,
                servers: code_servers.clone(),
            });
        }
        steps.extend(hooks_of(action.id, "after"));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::hooks::Hook;
    use crate::domain::ids::{ProjectId, UserId};
    use crate::domain::time::Timestamp;

    fn server(id: i64, code: bool) -> Server {
        Server {
            id: ServerId(id),
            project_id: ProjectId(1),
            user_id: UserId(1),
            name: format!("s{id}"),
            connect_as: "forge".into(),
            host: "h".into(),
            port: 22,
            php_version: "php83".into(),
            freebsd: false,
            receives_code_deployments: code,
            should_restart_fpm: false,
            deployment_path: "/srv/app".into(),
            php_path: "php".into(),
            composer_path: "composer".into(),
            public_key: String::new(),
            connection_status: "unknown".into(),
            current_activity: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            host_key: None,
            connection_error: None,
            tools: None,
            environment: "production".into(),
        }
    }

    fn hook(id: i64, action_id: i64, timing: &str, servers: &[i64]) -> HookView {
        HookView {
            hook: Hook {
                id: HookId(id),
                project_id: ProjectId(1),
                user_id: UserId(1),
                action_id,
                timing: timing.into(),
                name: format!("hook {id}"),
                run_as: "forge".into(),
                script: "true".into(),
                sequence: id,
                created_at: Timestamp(0),
                updated_at: Timestamp(0),
            },
            servers: servers.iter().map(|s| ServerId(*s)).collect(),
        }
    }

    #[test]
    fn hooks_surround_their_action_and_code_steps_skip_hook_only_servers() {
        let servers = [server(1, true), server(2, false)];
        let hooks = [
            hook(10, 3, "before", &[1, 2]),
            hook(11, 1, "after", &[2]),
            hook(12, 3, "after", &[99]),
        ];
        let steps = plan(&servers, &hooks, false);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Clone New Release",
                "hook 11",
                "hook 10",
                "Activate New Release",
                "Purge Old Releases"
            ]
        );
        assert_eq!(steps[0].servers, [ServerId(1)]);
        assert_eq!(steps[1].servers, [ServerId(2)]);
        assert_eq!(steps[2].servers, [ServerId(1), ServerId(2)]);
        let with_composer = plan(&servers, &hooks, true);
        assert_eq!(with_composer[2].work, Work::InstallComposer);
    }
}
