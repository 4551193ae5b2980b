//! The OpenAPI document of the `/api` dialect, built from one table of the routes. Response
//! schemas are inferred from the API document's own example objects (`examples.json`).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, Paths,
    RefOr, Required,
};

/// The document's example objects, by name.
pub fn examples() -> &'static Value {
    static EXAMPLES: OnceLock<Value> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        serde_json::from_str(include_str!("examples.json")).expect("examples.json is valid JSON")
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
    Integers,
}

/// A request field: name, type, required.
type Field = (&'static str, Kind, bool);

#[derive(Clone, Copy)]
enum Answer {
    /// `{"<key>": <example>}`
    One(&'static str, &'static str),
    /// `{"<key>": [<example>, …]}`
    List(&'static str, &'static str),
    /// `{"environment": "…"}`
    Environment,
    /// 200 with an empty body.
    Empty,
    /// `text/event-stream` of `output`, `process` and `end` events.
    EventStream,
    /// `{"secret": "…"}`
    Secret,
}

struct Route {
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    scope: Option<&'static str>,
    fields: &'static [Field],
    answer: Answer,
}

use Kind::*;

const PROJECT_FIELDS: &[Field] = &[
    ("name", Text, true),
    ("provider", Text, true),
    ("repository", Text, true),
    ("branch", Text, false),
    ("type", Text, false),
    ("retain_deployments", Integer, false),
    ("monitor", Text, false),
    ("composer", Boolean, false),
    ("composer_dev", Boolean, false),
    ("composer_quiet", Boolean, false),
    ("push_to_deploy", Boolean, false),
    ("step_timeout", Integer, false),
    ("health_gate", Boolean, false),
    ("health_gate_seconds", Integer, false),
    ("delta_releases", Boolean, false),
];
const PROJECT_UPDATE: &[Field] = &[
    ("name", Text, false),
    ("type", Text, false),
    ("retain_deployments", Integer, false),
    ("monitor", Text, false),
    ("composer", Boolean, false),
    ("composer_dev", Boolean, false),
    ("composer_quiet", Boolean, false),
    ("step_timeout", Integer, false),
    ("health_gate", Boolean, false),
    ("health_gate_seconds", Integer, false),
    ("delta_releases", Boolean, false),
];
const SOURCE_FIELDS: &[Field] = &[
    ("provider", Text, false),
    ("repository", Text, false),
    ("branch", Text, false),
    ("push_to_deploy", Boolean, false),
];
const FOLDER_FIELDS: &[Field] = &[("from", Text, true), ("to", Text, true)];
const SERVER_FIELDS: &[Field] = &[
    ("name", Text, true),
    ("connectAs", Text, true),
    ("host", Text, true),
    ("port", Integer, false),
    ("phpVersion", Text, true),
    ("receivesCodeDeployments", Boolean, false),
    ("deploymentPath", Text, false),
    ("restartFpm", Boolean, false),
    ("composerPath", Text, false),
    ("phpPath", Text, false),
    ("freebsd", Boolean, false),
];
const KEY: &[Field] = &[("key", Text, true)];
const ENVIRONMENT_FIELDS: &[Field] = &[
    ("key", Text, true),
    ("contents", Text, true),
    ("servers", Integers, false),
];
const HOOK_FIELDS: &[Field] = &[
    ("name", Text, true),
    ("script", Text, true),
    ("runAs", Text, true),
    ("actionId", Integer, true),
    ("timing", Text, true),
    ("servers", Integers, false),
];
const HEARTBEAT_FIELDS: &[Field] = &[("name", Text, true), ("interval", Integer, true)];
const EMAIL: &[Field] = &[("email", Text, true)];
const DEPLOY_FIELDS: &[Field] = &[
    ("from", Text, false),
    ("branch", Text, false),
    ("tag", Text, false),
    ("sha", Text, false),
];
const ROLLBACK_FIELDS: &[Field] = &[
    ("release", Integer, false),
    ("deployment", Integer, false),
    ("environment", Text, false),
];
const NOTIFICATION_FIELDS: &[Field] = &[
    ("name", Text, true),
    ("type", Text, true),
    ("email_address", Text, false),
    ("slack_webhook", Text, false),
    ("discord_webhook", Text, false),
    ("teams_webhook", Text, false),
    ("active", Boolean, false),
];

const fn route(
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    scope: Option<&'static str>,
    fields: &'static [Field],
    answer: Answer,
) -> Route {
    Route {
        method,
        path,
        summary,
        tag,
        scope,
        fields,
        answer,
    }
}

const P: &str = "/api/projects/{projectId}";

fn routes() -> Vec<Route> {
    use Answer::*;
    use HttpMethod::{Delete, Get, Post, Put};
    let c = |r: &'static str| Some(r);
    vec![
        route(
            Get,
            "/api/projects",
            "List Projects",
            "Projects",
            None,
            &[],
            List("projects", "project"),
        ),
        route(
            Post,
            "/api/projects",
            "Create Project",
            "Projects",
            c("projects:create"),
            PROJECT_FIELDS,
            One("project", "project"),
        ),
        route(
            Get,
            P,
            "Get Project",
            "Projects",
            None,
            &[],
            One("project", "project"),
        ),
        route(
            Put,
            P,
            "Update Project",
            "Projects",
            c("projects:create"),
            PROJECT_UPDATE,
            One("project", "project"),
        ),
        route(
            Delete,
            P,
            "Delete Project",
            "Projects",
            c("projects:delete"),
            &[],
            Empty,
        ),
        route(
            Put,
            "/api/projects/{projectId}/source",
            "Update Project Source",
            "Projects",
            c("projects:create"),
            SOURCE_FIELDS,
            One("project", "project"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/folders",
            "Get Linked Folders",
            "Projects",
            None,
            &[],
            List("folders", "folder"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/folders",
            "Create Linked Folder",
            "Projects",
            c("projects:create"),
            FOLDER_FIELDS,
            List("folders", "folder"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/folders",
            "Delete Linked Folder",
            "Projects",
            c("projects:delete"),
            FOLDER_FIELDS,
            Empty,
        ),
        route(
            Get,
            "/api/projects/{projectId}/servers",
            "List Servers",
            "Servers",
            None,
            &[],
            List("servers", "server"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/servers",
            "Create Server",
            "Servers",
            c("servers:create"),
            SERVER_FIELDS,
            One("server", "server"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/servers/{serverId}",
            "Get Server",
            "Servers",
            None,
            &[],
            One("server", "server"),
        ),
        route(
            Put,
            "/api/projects/{projectId}/servers/{serverId}",
            "Update Server",
            "Servers",
            c("servers:create"),
            SERVER_FIELDS,
            One("server", "server"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/servers/{serverId}",
            "Delete Server",
            "Servers",
            c("servers:delete"),
            &[],
            Empty,
        ),
        route(
            Post,
            "/api/projects/{projectId}/servers/{serverId}/refresh",
            "Refresh Server Connection",
            "Servers",
            c("servers:create"),
            &[],
            One("server", "server"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/environment",
            "Get Environment",
            "Environment",
            None,
            KEY,
            Environment,
        ),
        route(
            Get,
            "/api/projects/{projectId}/environment/servers",
            "Get Environment Servers",
            "Environment",
            None,
            &[],
            List("servers", "server"),
        ),
        route(
            Put,
            "/api/projects/{projectId}/environment",
            "Update Environment",
            "Environment",
            c("environments:create"),
            ENVIRONMENT_FIELDS,
            List("servers", "server"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/environment",
            "Reset Environment Key",
            "Environment",
            c("environments:delete"),
            KEY,
            Empty,
        ),
        route(
            Get,
            "/api/actions",
            "List Actions",
            "Actions",
            None,
            &[],
            List("actions", "action"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/hooks",
            "List Hooks",
            "Hooks",
            None,
            &[],
            List("hooks", "hook"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/hooks",
            "Create Hook",
            "Hooks",
            c("hooks:create"),
            HOOK_FIELDS,
            One("hook", "hook"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/hooks/{hookId}",
            "Get Hook",
            "Hooks",
            None,
            &[],
            One("hook", "hook"),
        ),
        route(
            Put,
            "/api/projects/{projectId}/hooks/{hookId}",
            "Update Hook",
            "Hooks",
            c("hooks:create"),
            HOOK_FIELDS,
            One("hook", "hook"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/hooks/{hookId}",
            "Delete Hook",
            "Hooks",
            c("hooks:delete"),
            &[],
            Empty,
        ),
        route(
            Get,
            "/api/projects/{projectId}/deployments",
            "List Deployments",
            "Deployments",
            None,
            &[],
            List("deployments", "deployment"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/deployments/{deploymentId}",
            "Get Deployment",
            "Deployments",
            None,
            &[],
            One("deployment", "deployment_detail"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/webhook-secret",
            "Create or Rotate the Push Web Hook Secret (Slipway)",
            "Projects",
            c("projects:create"),
            &[],
            Secret,
        ),
        route(
            Post,
            "/api/projects/{projectId}/deployments",
            "Deploy Project",
            "Deployments",
            c("deployments:create"),
            DEPLOY_FIELDS,
            One("deployment", "deployment"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/releases",
            "List Releases",
            "Deployments",
            None,
            &[],
            List("releases", "release"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/rollback",
            "Roll Back",
            "Deployments",
            c("deployments:create"),
            ROLLBACK_FIELDS,
            One("deployment", "deployment_detail"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/deployments/{deploymentId}",
            "Cancel Deployment",
            "Deployments",
            c("deployments:delete"),
            &[],
            Empty,
        ),
        route(
            Post,
            "/api/projects/{projectId}/deployments/{deploymentId}",
            "Cancel Deployment (POST)",
            "Deployments",
            c("deployments:delete"),
            &[],
            Empty,
        ),
        route(
            Get,
            "/api/projects/{projectId}/deployments/{deploymentId}/output",
            "Get Deployment Output (Slipway)",
            "Deployments",
            None,
            &[],
            List("processes", "process_output"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/deployments/{deploymentId}/stream",
            "Follow Deployment Output, as Server-Sent Events (Slipway)",
            "Deployments",
            None,
            &[],
            EventStream,
        ),
        route(
            Delete,
            "/api/projects/{projectId}/servers/{serverId}/host-key",
            "Reset Pinned Host Key (Slipway)",
            "Servers",
            c("servers:create"),
            &[],
            One("server", "server"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/heartbeats",
            "List Heartbeats",
            "Heartbeats",
            None,
            &[],
            List("heartbeats", "heartbeat"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/heartbeats",
            "Create Heartbeat",
            "Heartbeats",
            c("heartbeats:create"),
            HEARTBEAT_FIELDS,
            One("heartbeat", "heartbeat"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/heartbeats/{heartbeatId}",
            "Get Heartbeat",
            "Heartbeats",
            None,
            &[],
            One("heartbeat", "heartbeat"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/heartbeats/{heartbeatId}",
            "Delete Heartbeat",
            "Heartbeats",
            c("heartbeats:delete"),
            &[],
            Empty,
        ),
        route(
            Get,
            "/api/projects/{projectId}/collaborators",
            "List Collaborators",
            "Collaborators",
            None,
            &[],
            List("collaborators", "collaborator"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/collaborators",
            "Create Collaborator",
            "Collaborators",
            c("collaborators:create"),
            EMAIL,
            List("collaborators", "collaborator"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/collaborators",
            "Delete Collaborator",
            "Collaborators",
            c("collaborators:delete"),
            EMAIL,
            Empty,
        ),
        route(
            Get,
            "/api/projects/{projectId}/collaborators/{collaboratorId}",
            "Get Collaborator",
            "Collaborators",
            None,
            &[],
            One("collaborator", "collaborator"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/collaborators/accept",
            "Accept Invitation (Slipway)",
            "Collaborators",
            None,
            &[],
            One("collaborator", "collaborator"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/notifications",
            "List Notifications",
            "Notifications",
            None,
            &[],
            List("notifications", "notification"),
        ),
        route(
            Post,
            "/api/projects/{projectId}/notifications",
            "Create Notification",
            "Notifications",
            c("notifications:create"),
            NOTIFICATION_FIELDS,
            List("notifications", "notification"),
        ),
        route(
            Get,
            "/api/projects/{projectId}/notifications/{notificationId}",
            "Get Notification",
            "Notifications",
            None,
            &[],
            One("notification", "notification"),
        ),
        route(
            Put,
            "/api/projects/{projectId}/notifications/{notificationId}",
            "Update Notification",
            "Notifications",
            c("notifications:create"),
            NOTIFICATION_FIELDS,
            One("notification", "notification"),
        ),
        route(
            Delete,
            "/api/projects/{projectId}/notifications/{notificationId}",
            "Delete Notification",
            "Notifications",
            c("notifications:delete"),
            &[],
            Empty,
        ),
    ]
}

/// A schema that accepts what `example` shows: its JSON types, field by field.
fn schema_of(example: &Value) -> Schema {
    match example {
        Value::Null => ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .into(),
        Value::Bool(_) => ObjectBuilder::new().schema_type(Type::Boolean).into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            ObjectBuilder::new().schema_type(Type::Integer).into()
        }
        Value::Number(_) => ObjectBuilder::new().schema_type(Type::Number).into(),
        Value::String(_) => ObjectBuilder::new().schema_type(Type::String).into(),
        Value::Array(items) => {
            let item = items.first().map(schema_of).unwrap_or_else(|| {
                ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .into()
            });
            ArrayBuilder::new().items(RefOr::T(item)).into()
        }
        Value::Object(fields) => fields
            .iter()
            .fold(
                ObjectBuilder::new().schema_type(Type::Object),
                |builder, (name, value)| builder.property(name, schema_of(value)).required(name),
            )
            .into(),
    }
}

fn field_schema(kind: Kind) -> Schema {
    match kind {
        Text => ObjectBuilder::new().schema_type(Type::String).into(),
        Integer => ObjectBuilder::new().schema_type(Type::Integer).into(),
        Boolean => ObjectBuilder::new().schema_type(Type::Boolean).into(),
        Integers => ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Integer))
            .into(),
    }
}

fn answer_schema(answer: Answer) -> Option<Schema> {
    let wrap = |key: &str, inner: Schema| -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(key, inner)
            .required(key)
            .into()
    };
    let example = |name: &str| schema_of(&examples()[name]);
    match answer {
        Answer::One(key, name) => Some(wrap(key, example(name))),
        Answer::List(key, name) => Some(wrap(
            key,
            ArrayBuilder::new().items(RefOr::T(example(name))).into(),
        )),
        Answer::Environment => Some(wrap(
            "environment",
            ObjectBuilder::new().schema_type(Type::String).into(),
        )),
        Answer::Secret => Some(wrap(
            "secret",
            ObjectBuilder::new().schema_type(Type::String).into(),
        )),
        Answer::Empty | Answer::EventStream => None,
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("message");
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
        .into()
}

fn build() -> OpenApi {
    let mut paths = Paths::new();
    for route in routes() {
        let mut operation = OperationBuilder::new()
            .summary(Some(route.summary))
            .tag(route.tag)
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        let mut rest = route.path;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(&rest[start + 1..end])
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer))),
            );
            rest = &rest[end..];
        }
        if !route.fields.is_empty() {
            let body = route.fields.iter().fold(
                ObjectBuilder::new().schema_type(Type::Object),
                |builder, (name, kind, required)| {
                    let builder = builder.property(*name, field_schema(*kind));
                    if *required {
                        builder.required(*name)
                    } else {
                        builder
                    }
                },
            );
            let content = ContentBuilder::new().schema(Some(body)).build();
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", content.clone())
                    .content("application/x-www-form-urlencoded", content)
                    .build(),
            ));
        }
        let success = match answer_schema(route.answer) {
            Some(schema) => ResponseBuilder::new().description("Success").content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            ),
            None => ResponseBuilder::new().description("Success, with an empty body"),
        };
        operation = operation
            .response("200", success.build())
            .response("401", error_response("No valid API token"))
            .response(
                "404",
                error_response("Not found, or not visible to this token"),
            )
            .response("429", error_response("Too many requests for this token"));
        if route.scope.is_some() || !route.fields.is_empty() {
            operation = operation.response(
                "422",
                error_response("The given data was invalid (with an `errors` object per field)"),
            );
        }
        if let Some(scope) = route.scope {
            operation = operation
                .description(Some(format!("Requires the `{scope}` scope.")))
                .response("403", error_response("The token lacks the required scope"));
        }
        paths.add_path_operation(route.path, vec![route.method], operation.build());
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Slipway — Envoyer-compatible API")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}

pub async fn document() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| build().to_json().expect("the OpenAPI document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

/// The number of operations the document describes, for tests.
pub fn operation_count() -> usize {
    routes().len()
}
