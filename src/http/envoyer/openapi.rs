//! The OpenAPI document of the Envoyer dialect (`/api`) and the token URLs: each operation
//! names its request and answer types, and the schemas come from those types.

use std::sync::OnceLock;

use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, RefOr, Required, schema::Schema};
use utoipa::{IntoParams, ToSchema};

use super::error::{ForbiddenBody, InvalidBody, MessageBody};
use super::requests::*;
use super::views::*;
use crate::http::openapi::{
    Answer, Dialect, Input, Op, Schemas, build, id_parameter, json, text_parameter,
};

const TAGS: &[(&str, &str)] = &[
    (
        "Projects",
        "Projects, their source and their linked folders.",
    ),
    ("Servers", "The servers a project deploys to."),
    (
        "Environment",
        "The project's `.env` file, sealed with a key only the client knows.",
    ),
    (
        "Actions",
        "The fixed steps of a deployment, which hooks run around.",
    ),
    ("Hooks", "Scripts run before or after a deployment's steps."),
    (
        "Deployments",
        "Deployments, their output, releases and rollback.",
    ),
    ("Heartbeats", "URLs a scheduled job checks in at."),
    (
        "Collaborators",
        "Other Slipway users who may see and deploy a project.",
    ),
    ("Notifications", "Where deployment results are sent."),
    ("Token URLs", "URLs whose token is their only credential."),
];

/// What an operation may answer besides success.
#[derive(Clone, Copy)]
struct Fails {
    /// 400 with a sentence: a valid request the server cannot carry out.
    refused: bool,
    /// 403 for a collaborator where only the owner may act.
    owner_only: bool,
}

const NONE: Fails = Fails {
    refused: false,
    owner_only: false,
};

struct Builder<'a> {
    schemas: &'a mut Schemas,
    ops: Vec<Op>,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        method: HttpMethod,
        path: &'static str,
        summary: &'static str,
        tag: &'static str,
        scope: Option<&'static str>,
        input: Input,
        success: Answer,
        fails: Fails,
    ) {
        let token_url = tag == "Token URLs";
        let message = self.schemas.of::<MessageBody>();
        let mut responses = vec![success];
        if !token_url {
            responses.push((401, "No valid API token.", json(message.clone())));
            responses.push((
                429,
                "Too many requests for this token; see `Retry-After`.",
                json(message.clone()),
            ));
        }
        if path.contains('{') {
            responses.push((
                404,
                "Not found, or not visible to this token.",
                json(message.clone()),
            ));
        }
        if scope.is_some() || fails.owner_only {
            let forbidden = self.schemas.of::<ForbiddenBody>();
            let why = match (scope.is_some(), fails.owner_only) {
                (true, true) => {
                    "The token lacks the scope (`missing_scope` names it), or the caller is a collaborator, not the owner."
                }
                (true, false) => {
                    "The token lacks the scope (`missing_scope` names it), or the action is not allowed."
                }
                _ => "Only the project's owner may do this.",
            };
            responses.push((403, why, json(forbidden)));
        }
        if !matches!(input, Input::None) {
            let invalid = self.schemas.of::<InvalidBody>();
            responses.push((
                422,
                "The given data was invalid: `errors` lists each field's messages.",
                json(invalid),
            ));
        }
        if fails.refused {
            responses.push((
                400,
                "The request is valid but cannot be carried out now; `message` says why.",
                json(message),
            ));
        }
        self.ops.push(Op {
            method,
            path,
            summary,
            tag,
            scope,
            input,
            responses,
            description: None,
            headers: Vec::new(),
        });
    }
}

fn body<T: ToSchema>(schemas: &mut Schemas) -> Input {
    schemas.body::<T>()
}

fn query<T: IntoParams>() -> Input {
    Input::Query(T::into_params(|| None))
}

fn ok(schema: RefOr<Schema>) -> Answer {
    (200, "Success.", json(schema))
}

fn empty() -> Answer {
    (200, "Done; the body is empty.", None)
}

/// The table of operations, one a line.
#[rustfmt::skip]
fn operations(s: &mut Schemas) -> Vec<Op> {
    use HttpMethod::{Delete, Get, Post, Put};
    let project = s.keyed::<ProjectJson>("project");
    let projects = s.keyed_list::<ProjectJson>("projects");
    let folders = s.keyed_list::<Folder>("folders");
    let server = s.keyed::<ServerJson>("server");
    let servers = s.keyed_list::<ServerJson>("servers");
    let environment = RefOr::T(
        utoipa::openapi::schema::ObjectBuilder::new()
            .property(
                "environment",
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some("The `.env` file's contents.")),
            )
            .required("environment")
            .into(),
    );
    let actions = s.keyed_list::<ActionJson>("actions");
    let hook = s.keyed::<HookJson>("hook");
    let hooks = s.keyed_list::<HookJson>("hooks");
    let deployment = s.keyed::<DeploymentJson>("deployment");
    let deployments = s.keyed_list::<DeploymentJson>("deployments");
    let outputs = s.keyed_list::<OutputJson>("processes");
    let releases = s.keyed_list::<ReleaseJson>("releases");
    let heartbeat = s.keyed::<HeartbeatJson>("heartbeat");
    let heartbeats = s.keyed_list::<HeartbeatJson>("heartbeats");
    let collaborator = s.keyed::<CollaboratorJson>("collaborator");
    let collaborators = s.keyed_list::<CollaboratorJson>("collaborators");
    let notification = s.keyed::<NotificationJson>("notification");
    let notifications = s.keyed_list::<NotificationJson>("notifications");
    let secret = s.of::<SecretJson>();
    let push = s.of::<PushJson>();
    let message = s.of::<MessageBody>();
    let events = (
        200,
        "Server-Sent Events: `output` (a process's new output), `process` (a step's new \
         status) and, last, `end` (the deployment's final status, sent once it is recorded). \
         The output so far comes first; a comment line every 15 s keeps the connection open.",
        Some((
            "text/event-stream",
            RefOr::T(
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .into(),
            ),
        )),
    );
    let new_project = body::<NewProject>(s);
    let project_changes = body::<ProjectChanges>(s);
    let source_changes = body::<SourceChanges>(s);
    let new_server = body::<NewServer>(s);
    let server_changes = body::<ServerChanges>(s);
    let environment_update = body::<EnvironmentUpdate>(s);
    let new_hook = body::<NewHook>(s);
    let hook_changes = body::<HookChanges>(s);
    let deploy = body::<DeployRequest>(s);
    let rollback = body::<RollbackRequest>(s);
    let new_heartbeat = body::<NewHeartbeat>(s);
    let new_notification = body::<NewNotification>(s);
    let notification_changes = body::<NotificationChanges>(s);
    let push_body = Input::Body(
        Box::new(RefOr::T(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Object)
                .description(Some("The provider's push event payload."))
                .into(),
        )),
        Required::True,
    );
    let owner_only = Fails {
        owner_only: true,
        ..NONE
    };
    let refused = Fails {
        refused: true,
        ..NONE
    };
    let folder_schema = s.of::<FolderLink>();
    let email_schema = s.of::<CollaboratorEmail>();
    let key_schema = s.of::<EnvironmentKey>();
    let folder = || Input::Body(Box::new(folder_schema.clone()), Required::True);
    let mut b = Builder {
        schemas: s,
        ops: Vec::new(),
    };
    let c = Some;
    const P: &str = "Projects";
    b.add(Get, "/api/projects", "List Projects", P, None, Input::None, ok(projects), NONE);
    b.add(Post, "/api/projects", "Create Project", P, c("projects:create"), new_project, ok(project.clone()), NONE);
    b.add(Get, "/api/projects/{projectId}", "Get Project", P, None, Input::None, ok(project.clone()), NONE);
    b.add(Put, "/api/projects/{projectId}", "Update Project", P, c("projects:create"), project_changes, ok(project.clone()), NONE);
    b.add(Delete, "/api/projects/{projectId}", "Delete Project", P, c("projects:delete"), Input::None, empty(), owner_only);
    b.add(Put, "/api/projects/{projectId}/source", "Update Project Source", P, c("projects:create"), source_changes, ok(project), NONE);
    b.add(Post, "/api/projects/{projectId}/webhook-secret", "Rotate Push Web Hook Secret", P, c("projects:create"), Input::None, ok(secret), NONE);
    b.add(Get, "/api/projects/{projectId}/folders", "Get Linked Folders", P, None, Input::None, ok(folders.clone()), NONE);
    b.add(Post, "/api/projects/{projectId}/folders", "Create Linked Folder", P, c("projects:create"), folder(), ok(folders), NONE);
    b.add(Delete, "/api/projects/{projectId}/folders", "Delete Linked Folder", P, c("projects:delete"), folder(), empty(), NONE);

    const S: &str = "Servers";
    b.add(Get, "/api/projects/{projectId}/servers", "List Servers", S, None, Input::None, ok(servers.clone()), NONE);
    b.add(Post, "/api/projects/{projectId}/servers", "Create Server", S, c("servers:create"), new_server, ok(server.clone()), NONE);
    b.add(Get, "/api/projects/{projectId}/servers/{serverId}", "Get Server", S, None, Input::None, ok(server.clone()), NONE);
    b.add(Put, "/api/projects/{projectId}/servers/{serverId}", "Update Server", S, c("servers:create"), server_changes, ok(server.clone()), NONE);
    b.add(Delete, "/api/projects/{projectId}/servers/{serverId}", "Delete Server", S, c("servers:delete"), Input::None, empty(), NONE);
    b.add(Post, "/api/projects/{projectId}/servers/{serverId}/refresh", "Refresh Server Connection", S, c("servers:create"), Input::None, ok(server.clone()), NONE);
    b.add(Delete, "/api/projects/{projectId}/servers/{serverId}/host-key", "Reset Pinned Host Key", S, c("servers:create"), Input::None, ok(server), NONE);

    const E: &str = "Environment";
    b.add(Get, "/api/projects/{projectId}/environment", "Get Environment", E, None, query::<KeyQuery>(), ok(environment), NONE);
    b.add(Put, "/api/projects/{projectId}/environment", "Update Environment", E, c("environments:create"), environment_update, ok(servers.clone()), refused);
    b.add(Delete, "/api/projects/{projectId}/environment", "Reset Environment Key", E, c("environments:delete"), Input::Body(Box::new(key_schema), Required::True), empty(), NONE);
    b.add(Get, "/api/projects/{projectId}/environment/servers", "Get Environment Servers", E, None, Input::None, ok(servers), NONE);

    b.add(Get, "/api/actions", "List Actions", "Actions", None, Input::None, ok(actions), NONE);
    const H: &str = "Hooks";
    b.add(Get, "/api/projects/{projectId}/hooks", "List Hooks", H, None, Input::None, ok(hooks), NONE);
    b.add(Post, "/api/projects/{projectId}/hooks", "Create Hook", H, c("hooks:create"), new_hook, ok(hook.clone()), NONE);
    b.add(Get, "/api/projects/{projectId}/hooks/{hookId}", "Get Hook", H, None, Input::None, ok(hook.clone()), NONE);
    b.add(Put, "/api/projects/{projectId}/hooks/{hookId}", "Update Hook", H, c("hooks:create"), hook_changes, ok(hook), NONE);
    b.add(Delete, "/api/projects/{projectId}/hooks/{hookId}", "Delete Hook", H, c("hooks:delete"), Input::None, empty(), NONE);

    const D: &str = "Deployments";
    let one = "/api/projects/{projectId}/deployments/{deploymentId}";
    b.add(Get, "/api/projects/{projectId}/deployments", "List Deployments", D, None, Input::None, ok(deployments), NONE);
    b.add(Post, "/api/projects/{projectId}/deployments", "Deploy Project", D, c("deployments:create"), deploy, ok(deployment.clone()), NONE);
    b.add(Get, one, "Get Deployment", D, None, Input::None, ok(deployment.clone()), NONE);
    b.add(Delete, one, "Cancel Deployment", D, c("deployments:delete"), Input::None, empty(), refused);
    b.add(Post, one, "Cancel Deployment by POST", D, c("deployments:delete"), Input::None, empty(), refused);
    b.add(Get, "/api/projects/{projectId}/deployments/{deploymentId}/output", "Get Deployment Output", D, None, Input::None, ok(outputs), NONE);
    b.add(Get, "/api/projects/{projectId}/deployments/{deploymentId}/stream", "Follow Deployment", D, None, Input::None, events, NONE);
    b.add(Get, "/api/projects/{projectId}/releases", "List Releases", D, None, query::<EnvironmentQuery>(), ok(releases), NONE);
    b.add(Post, "/api/projects/{projectId}/rollback", "Roll Back", D, c("deployments:create"), rollback, ok(deployment.clone()), NONE);

    const B: &str = "Heartbeats";
    b.add(Get, "/api/projects/{projectId}/heartbeats", "List Heartbeats", B, None, Input::None, ok(heartbeats), NONE);
    b.add(Post, "/api/projects/{projectId}/heartbeats", "Create Heartbeat", B, c("heartbeats:create"), new_heartbeat, ok(heartbeat.clone()), NONE);
    b.add(Get, "/api/projects/{projectId}/heartbeats/{heartbeatId}", "Get Heartbeat", B, None, Input::None, ok(heartbeat), NONE);
    b.add(Delete, "/api/projects/{projectId}/heartbeats/{heartbeatId}", "Delete Heartbeat", B, c("heartbeats:delete"), Input::None, empty(), NONE);

    const C: &str = "Collaborators";
    b.add(Get, "/api/projects/{projectId}/collaborators", "List Collaborators", C, None, Input::None, ok(collaborators.clone()), NONE);
    b.add(Post, "/api/projects/{projectId}/collaborators", "Invite Collaborator", C, c("collaborators:create"), Input::Body(Box::new(email_schema.clone()), Required::True), ok(collaborators), owner_only);
    b.add(Delete, "/api/projects/{projectId}/collaborators", "Remove Collaborator", C, c("collaborators:delete"), Input::Body(Box::new(email_schema), Required::True), empty(), owner_only);
    b.add(Get, "/api/projects/{projectId}/collaborators/{collaboratorId}", "Get Collaborator", C, None, Input::None, ok(collaborator.clone()), NONE);
    b.add(Post, "/api/projects/{projectId}/collaborators/accept", "Accept Invitation", C, c("collaborators:create"), Input::None, ok(collaborator), NONE);

    const N: &str = "Notifications";
    b.add(Get, "/api/projects/{projectId}/notifications", "List Notifications", N, None, Input::None, ok(notifications.clone()), NONE);
    b.add(Post, "/api/projects/{projectId}/notifications", "Create Notification", N, c("notifications:create"), new_notification, ok(notifications), NONE);
    b.add(Get, "/api/projects/{projectId}/notifications/{notificationId}", "Get Notification", N, None, Input::None, ok(notification.clone()), NONE);
    b.add(Put, "/api/projects/{projectId}/notifications/{notificationId}", "Update Notification", N, c("notifications:create"), notification_changes, ok(notification), NONE);
    b.add(Delete, "/api/projects/{projectId}/notifications/{notificationId}", "Delete Notification", N, c("notifications:delete"), Input::None, empty(), NONE);

    const T: &str = "Token URLs";
    b.add(Get, "/deploy/{token}", "Deploy by URL", T, None, query::<DeployQuery>(), ok(deployment.clone()), NONE);
    let deploy_body = body::<DeployRequest>(b.schemas);
    b.add(Post, "/deploy/{token}", "Deploy by URL (POST)", T, None, deploy_body, ok(deployment), NONE);
    b.add(Get, "/heartbeat/{token}", "Check In", T, None, Input::None, ok(message.clone()), NONE);
    b.add(Post, "/heartbeat/{token}", "Check In (POST)", T, None, Input::None, ok(message), NONE);
    b.add(Post, "/webhooks/{token}", "Receive Provider Push", T, None, push_body, ok(push), NONE);
    let message_schema = b.schemas.of::<MessageBody>();
    let mut ops = b.ops;
    if let Some(op) = ops.iter_mut().find(|op| op.path == "/webhooks/{token}") {
        op.description = Some(
            "A GitHub, GitLab or Bitbucket push web hook. Signed with the project's web hook \
             secret; a wrong or missing signature answers 401.",
        );
        op.headers = PushHeaders::into_params(|| None);
        op.responses.push((
            401,
            "The signature is missing or wrong, or the project has no web hook secret.",
            json(message_schema.clone()),
        ));
    }
    ops
}

fn path_parameter(name: &str) -> Option<utoipa::openapi::path::Parameter> {
    let what = match name {
        "token" => return Some(text_parameter(name, "The URL's secret token.")),
        "projectId" => "The project's id.",
        "serverId" => "The server's id.",
        "hookId" => "The hook's id.",
        "deploymentId" => "The deployment's id.",
        "heartbeatId" => "The heartbeat's id.",
        "collaboratorId" => "The collaborator's user id.",
        "notificationId" => "The notification's id.",
        _ => return None,
    };
    Some(id_parameter(name, what))
}

fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let ops = operations(&mut schemas);
    let dialect = Dialect {
        info: InfoBuilder::new()
            .title("Slipway: the Envoyer API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Laravel Envoyer's REST API as Slipway serves it, with Slipway's additions \
                 marked in their descriptions. Parameters may be sent as JSON or form fields; \
                 integers and booleans are also read from strings (`\"5\"`, `\"true\"`). \
                 Every answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`.",
            ))
            .build(),
        tags: TAGS,
        scheme: (
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token. Reading needs no scope; each change names the scope \
                         it needs.",
                    ))
                    .build(),
            ),
        ),
        path_parameters: path_parameter,
        secured: |op| op.tag != "Token URLs",
    };
    build(dialect, ops, schemas)
}

/// The document, built on the first request.
pub async fn serve() -> Response {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    crate::http::openapi::serve(&JSON, document)
}
