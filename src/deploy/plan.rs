//! The steps of a deployment: for each action, its "before" hooks, the action, its "after"
//! hooks. Each step names the servers it runs on. A rollback is the Activate action alone,
//! with its hooks.

use crate::db::hooks::HookView;
use crate::db::servers::Server;
use crate::domain::catalog::{ACTIONS, ACTIVATE};
use crate::domain::ids::{HookId, ServerId};

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
    /// Polls the project's monitor after activation; run by Slipway itself, on no server.
    HealthGate {
        url: String,
        seconds: u64,
    },
}

/// The name of the health gate's step.
pub const HEALTH_GATE: &str = "Health Gate";

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

/// What a deployment's plan depends on besides its servers and hooks.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub install_dependencies: bool,
    /// The monitor to poll after activation, and for how long.
    pub health_gate: Option<(String, u64)>,
}

pub fn plan(servers: &[Server], hooks: &[HookView], options: &Options) -> Vec<Step> {
    let code_servers = code_servers(servers);
    let mut steps = Vec::new();
    for action in ACTIONS {
        steps.extend(hooks_of(servers, hooks, action.id, "before"));
        let work = match action.id {
            1 => Some(Work::CloneRelease),
            2 if options.install_dependencies => Some(Work::InstallComposer),
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
        steps.extend(hooks_of(servers, hooks, action.id, "after"));
        if action.id == ACTIVATE
            && let Some((url, seconds)) = &options.health_gate
            && !code_servers.is_empty()
        {
            steps.push(Step {
                name: HEALTH_GATE.to_owned(),
                // Not one of the four actions: no hook attaches to it.
                action_id: 0,
                work: Work::HealthGate {
                    url: url.clone(),
                    seconds: *seconds,
                },
                servers: Vec::new(),
            });
        }
    }
    steps
}

/// A rollback: Activate New Release (of the target) on every code server, with the hooks
/// attached to that action.
pub fn plan_rollback(servers: &[Server], hooks: &[HookView]) -> Vec<Step> {
    let code_servers = code_servers(servers);
    let mut steps = hooks_of(servers, hooks, ACTIVATE, "before");
    if let Some(action) = crate::domain::catalog::action(ACTIVATE)
        && !code_servers.is_empty()
    {
        steps.push(Step {
            name: action.name.to_owned(),
            action_id: ACTIVATE,
            work: Work::Activate,
            servers: code_servers,
        });
    }
    steps.extend(hooks_of(servers, hooks, ACTIVATE, "after"));
    steps
}

/// The servers that receive the code.
pub fn code_servers(servers: &[Server]) -> Vec<ServerId> {
    servers
        .iter()
        .filter(|s| s.receives_code_deployments)
        .map(|s| s.id)
        .collect()
}

fn hooks_of(servers: &[Server], hooks: &[HookView], action_id: i64, timing: &str) -> Vec<Step> {
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
        let steps = plan(&servers, &hooks, &Options::default());
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
        let with_composer = plan(
            &servers,
            &hooks,
            &Options {
                install_dependencies: true,
                health_gate: None,
            },
        );
        assert_eq!(with_composer[2].work, Work::InstallComposer);
    }

    #[test]
    fn the_health_gate_follows_activation_and_its_hooks() {
        let servers = [server(1, true)];
        let hooks = [hook(10, 3, "after", &[1]), hook(11, 4, "before", &[1])];
        let options = Options {
            install_dependencies: false,
            health_gate: Some(("http://127.0.0.1/up".into(), 30)),
        };
        let names: Vec<String> = plan(&servers, &hooks, &options)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "Clone New Release",
                "Activate New Release",
                "hook 10",
                HEALTH_GATE,
                "hook 11",
                "Purge Old Releases"
            ]
        );
    }

    #[test]
    fn a_rollback_is_activation_with_its_hooks_only() {
        let servers = [server(1, true), server(2, false)];
        let hooks = [
            hook(10, 3, "before", &[1, 2]),
            hook(11, 1, "after", &[1]),
            hook(12, 3, "after", &[2]),
        ];
        let steps = plan_rollback(&servers, &hooks);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["hook 10", "Activate New Release", "hook 12"]);
        assert_eq!(steps[1].servers, [ServerId(1)]);
    }
}
