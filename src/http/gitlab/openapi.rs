//! The OpenAPI document of the GitLab Environments dialect (`/api/v4`): each operation names
//! its parameter and answer types, and the schemas come from those types.
//!
//! The parameter types are described, never built: the handlers read GitLab's loose
//! parameters (query string or body, JSON or form) and the fuzzing run in the test suite
//! holds this document to what they accept.
#![allow(dead_code)]

use std::sync::OnceLock;

use axum::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, RefOr};
use utoipa::{IntoParams, ToSchema};

use super::views::{CleanupJson, EnvironmentDetailJson, EnvironmentJson};
use crate::domain::environment::{AUTO_STOP_SETTINGS, STATES, TIERS};
use crate::http::openapi::fields::{description, environment_name, teardown_script};
use crate::http::openapi::{
    Answer, Dialect, Input, Op, Schemas, build, id_parameter, json, text_parameter,
};

fn words(words: &[&'static str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
}

fn tiers() -> ObjectBuilder {
    words(TIERS)
}

fn states() -> ObjectBuilder {
    words(STATES)
}

fn auto_stop_settings() -> ObjectBuilder {
    words(AUTO_STOP_SETTINGS)
}

/// `GET …/environments`: filters and pages.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Exactly this name; not with `search`.
    #[param(max_length = 255, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    name: Option<String>,
    /// Names starting with this, at least 3 characters; not with `name`.
    #[param(
        min_length = 3,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F]){2,}\s*$"
    )]
    search: Option<String>,
    #[param(schema_with = states)]
    states: Option<String>,
    #[param(minimum = 1, maximum = 9007199254740991_i64)]
    page: Option<i64>,
    /// At most 100 (larger values are read as 100); 20 by default.
    #[param(minimum = 1, maximum = 9007199254740991_i64)]
    per_page: Option<i64>,
}

/// A new environment. `slug` is made from the name and may not be sent.
#[derive(ToSchema)]
struct NewEnvironment {
    /// Letters, digits, `-_/${}.` and spaces; not starting or ending with `/`.
    #[schema(schema_with = environment_name)]
    name: String,
    /// An http(s) URL, at most 255 characters.
    #[schema(max_length = 255, pattern = r"^https?://[!-~]*$")]
    external_url: Option<String>,
    /// Guessed from the name when not sent.
    #[schema(schema_with = tiers)]
    tier: Option<String>,
    #[schema(schema_with = description)]
    description: Option<String>,
    /// Slipway: a script run on the environment's servers when it stops. Setting it needs the
    /// `hooks:create` scope too.
    #[schema(schema_with = teardown_script)]
    on_stop: Option<String>,
    #[schema(schema_with = auto_stop_settings)]
    auto_stop_setting: Option<String>,
}

/// What to change; `name` is ignored, as GitLab does, and null clears a field.
#[derive(ToSchema)]
struct EnvironmentChanges {
    #[schema(max_length = 255, pattern = r"^https?://[!-~]*$")]
    external_url: Option<String>,
    #[schema(schema_with = tiers)]
    tier: Option<String>,
    #[schema(schema_with = description)]
    description: Option<String>,
    #[schema(schema_with = teardown_script)]
    on_stop: Option<String>,
    #[schema(schema_with = auto_stop_settings)]
    auto_stop_setting: Option<String>,
}

#[derive(ToSchema)]
struct StopRequest {
    /// Stop even when the environment is already stopped.
    force: Option<bool>,
}

/// `DELETE …/environments/review_apps`
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct ReviewAppsQuery {
    /// Only review apps created before this; 30 days ago by default.
    #[param(format = DateTime)]
    before: Option<String>,
    /// At most 1000; 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `true` (the default) only lists what would be deleted.
    dry_run: Option<bool>,
}

#[derive(ToSchema)]
struct StopStaleRequest {
    /// Stop environments not updated or deployed since this: between 10 years and a week ago.
    #[schema(format = DateTime)]
    before: String,
}

/// `{"message": …}`: GitLab's answer to a request it refused, or a note of what it did.
#[derive(ToSchema)]
#[schema(as = Message)]
struct MessageBody {
    /// A sentence, or (for a 400 on a field) each field's messages.
    #[schema(schema_with = sentence_or_fields)]
    message: serde_json::Value,
}

/// `{"error": "<param> <problem>"}`: a parameter GitLab could not take.
#[derive(ToSchema)]
#[schema(as = ParameterError)]
struct ParameterError {
    error: String,
}

fn sentence_or_fields() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
}

const TAG: &str = "Environments";

struct Table<'a> {
    schemas: &'a mut Schemas,
    ops: Vec<Op>,
}

impl Table<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        method: HttpMethod,
        path: &'static str,
        summary: &'static str,
        scope: Option<&'static str>,
        input: Input,
        success: Answer,
        extra: Vec<(u16, &'static str)>,
    ) {
        let message = self.schemas.of::<MessageBody>();
        let bad_request = RefOr::T(Schema::OneOf(
            utoipa::openapi::schema::OneOfBuilder::new()
                .item(self.schemas.of::<ParameterError>())
                .item(message.clone())
                .build(),
        ));
        let mut responses = vec![
            success,
            (
                400,
                "A parameter is missing or invalid (`error`), or a rule refused the request \
                 (`message`).",
                json(bad_request),
            ),
            (401, "No valid token.", json(message.clone())),
            (
                404,
                "The project or environment was not found, or is not visible to this token.",
                json(message.clone()),
            ),
            (
                429,
                "Too many requests for this token; see `Retry-After`.",
                Some(("text/plain", string())),
            ),
        ];
        if scope.is_some() {
            responses.push((403, "The token lacks the scope.", json(message.clone())));
        }
        for (status, description) in extra {
            responses.push((status, description, json(message.clone())));
        }
        self.ops.push(Op {
            method,
            path,
            summary,
            tag: TAG,
            scope,
            input,
            responses,
            description: None,
            headers: Vec::new(),
        });
    }
}

fn string() -> RefOr<Schema> {
    RefOr::T(ObjectBuilder::new().schema_type(Type::String).into())
}

/// The table of operations, one a line.
#[rustfmt::skip]
fn operations(s: &mut Schemas) -> Vec<Op> {
    use HttpMethod::{Delete, Get, Post, Put};
    let environment = s.of::<EnvironmentJson>();
    let environments = RefOr::T(
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(environment.clone())
            .into(),
    );
    let detail = s.of::<EnvironmentDetailJson>();
    let cleanup = s.of::<CleanupJson>();
    let message = s.of::<MessageBody>();
    let new = s.body::<NewEnvironment>();
    let changes = s.body::<EnvironmentChanges>();
    let stop = s.body::<StopRequest>();
    let stale = s.body::<StopStaleRequest>();
    let mut t = Table {
        schemas: s,
        ops: Vec::new(),
    };
    let list = "/api/v4/projects/{id}/environments";
    let one = "/api/v4/projects/{id}/environments/{environment_id}";
    let c = Some;
    t.add(Get, list, "List Environments", None, Input::Query(ListQuery::into_params(|| None)), (200, "The page of environments; `X-Total`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page`, `X-Total-Pages` and `Link` tell the rest.", json(environments)), vec![]);
    t.add(Post, list, "Create Environment", c("environments:create"), new, (201, "Created.", json(environment.clone())), vec![]);
    t.add(Get, one, "Get Environment", None, Input::None, (200, "The environment and its last successful deployment.", json(detail),), vec![]);
    t.add(Put, one, "Update Environment", c("environments:create"), changes, (200, "Updated.", json(environment.clone())), vec![]);
    t.add(Delete, one, "Delete Environment", c("environments:delete"), Input::None, (204, "Deleted.", None), vec![(412, "Changed since `If-Unmodified-Since`.")]);
    t.add(Post, "/api/v4/projects/{id}/environments/{environment_id}/stop", "Stop Environment", c("environments:create"), stop, (200, "Stopped, or stopping while its `on_stop` script runs.", json(environment),), vec![]);
    t.add(Delete, "/api/v4/projects/{id}/environments/review_apps", "Delete Stopped Review Apps", c("environments:delete"), Input::Query(ReviewAppsQuery::into_params(|| None)), (200, "What was (or, on a dry run, would be) deleted.", json(cleanup),), vec![]);
    t.add(Post, "/api/v4/projects/{id}/environments/stop_stale", "Stop Stale Environments", c("environments:create"), stale, (200, "Stopping was requested.", json(message)), vec![]);
    let mut ops = t.ops;
    if let Some(op) = ops
        .iter_mut()
        .find(|op| op.path == one && op.method == Delete)
    {
        op.description = Some("Only a stopped environment may be deleted (403 otherwise).");
        op.headers = vec![
            utoipa::openapi::path::ParameterBuilder::new()
                .name("If-Unmodified-Since")
                .parameter_in(utoipa::openapi::path::ParameterIn::Header)
                .description(Some("Delete only if unchanged since this HTTP date."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ];
    }
    ops
}

fn path_parameter(name: &str) -> Option<utoipa::openapi::path::Parameter> {
    match name {
        "id" => Some(text_parameter(
            "id",
            "The project's id, or its repository path URL-encoded (`owner%2Fname`).",
        )),
        "environment_id" => Some(id_parameter(name, "The environment's id.")),
        _ => None,
    }
}

fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let ops = operations(&mut schemas);
    let dialect = Dialect {
        info: InfoBuilder::new()
            .title("Slipway: the GitLab Environments API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "GitLab's Environments API (v4) as Slipway serves it, with GitLab's tokens, \
                 parameters, errors and pagination. Parameters may be sent in the query \
                 string or the body (JSON or form fields).",
            ))
            .build(),
        tags: &[(TAG, "A project's deployment environments.")],
        scheme: (
            "private_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "PRIVATE-TOKEN",
                "An API token; `JOB-TOKEN`, `Authorization: Bearer` and the `private_token` \
                 parameter work too. Reading needs no scope.",
            ))),
        ),
        path_parameters: path_parameter,
        secured: |_| true,
    };
    build(dialect, ops, schemas)
}

/// The document, built on the first request.
pub async fn serve() -> Response {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    crate::http::openapi::serve(&JSON, document)
}
