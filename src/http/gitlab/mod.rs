//! The GitLab Environments API v4 dialect under `/api/v4`: GitLab's tokens, parameter
//! handling, error bodies, check order and pagination.

pub mod openapi;
mod views;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::db::environments::{EnvironmentFields, Filter};
use crate::domain::environment::{AUTO_STOP_SETTINGS, STATES, TIERS, is_valid_name};
use crate::domain::ids::EnvironmentId;
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params};
use crate::error::{Error, RateLimit};
use crate::http::openapi::Routes;
use crate::http::params;
use crate::services::access::Principal;
use crate::services::environments::{self, DeleteOutcome};
use crate::services::{accounts, projects};

fn routes() -> Routes<AppState> {
    Routes::default()
        .route("/projects/{id}/environments", get(list).post(create))
        .route(
            "/projects/{id}/environments/{environment}",
            get(show).put(update).delete(remove),
        )
        .route("/projects/{id}/environments/{environment}/stop", post(stop))
        .route(
            "/projects/{id}/environments/review_apps",
            axum::routing::delete(clean_up_review_apps),
        )
        .route("/projects/{id}/environments/stop_stale", post(stop_stale))
}

/// Every path the dialect routes, for the test that holds them against the OpenAPI document.
pub fn routed_paths() -> Vec<String> {
    routes()
        .paths()
        .iter()
        .map(|path| format!("/api/v4{path}"))
        .collect()
}

pub fn router(app: AppState) -> Router {
    routes()
        .into_router()
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async { GitlabError::NotFound("404 Not Found") })
        .with_state(app)
}

/// GitLab's error bodies.
#[derive(Debug)]
enum GitlabError {
    Unauthorized,
    /// A parameter problem: `{"error": "<param> <problem>"}`.
    Param(String),
    /// A business rule: `{"message": "400 Bad request - <reason>"}`.
    BadRequest(String),
    /// A model validation: `{"message": {"<field>": ["<problem>"]}}`.
    Model(FieldErrors),
    Forbidden,
    NotFound(&'static str),
    PreconditionFailed,
    /// 429 with GitLab's `Retry later` and rate limit headers.
    TooManyRequests(RateLimit),
    Internal(anyhow::Error),
}

impl IntoResponse for GitlabError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            GitlabError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "401 Unauthorized"}),
            ),
            GitlabError::Param(text) => (StatusCode::BAD_REQUEST, json!({"error": text})),
            GitlabError::BadRequest(reason) => (
                StatusCode::BAD_REQUEST,
                json!({"message": format!("400 Bad request - {reason}")}),
            ),
            GitlabError::Model(errors) => {
                let fields: serde_json::Map<String, Value> = errors
                    .iter()
                    .map(|(field, messages)| (field.to_owned(), json!(messages)))
                    .collect();
                (StatusCode::BAD_REQUEST, json!({"message": fields}))
            }
            GitlabError::Forbidden => (StatusCode::FORBIDDEN, json!({"message": "403 Forbidden"})),
            GitlabError::NotFound(message) => (StatusCode::NOT_FOUND, json!({"message": message})),
            GitlabError::PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                json!({"message": "412 Precondition Failed"}),
            ),
            GitlabError::TooManyRequests(limit) => {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, "Retry later\n").into_response();
                let headers = response.headers_mut();
                let mut set = |name: &'static str, value: u64| {
                    headers.insert(name, HeaderValue::from(value));
                };
                set("retry-after", limit.retry_after_secs);
                set("ratelimit-limit", u64::from(limit.limit));
                set("ratelimit-remaining", 0);
                set("ratelimit-reset", limit.reset_at);
                return response;
            }
            GitlabError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "500 Internal Server Error"}),
                )
            }
        };
        json_response(status, &body)
    }
}

/// python-gitlab parses a body only when it is labelled `application/json`.
fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(err) => GitlabError::Internal(err.into()).into_response(),
    }
}

/// Maps a service's error for an environment operation (the project was already found).
fn environment_error(err: Error) -> GitlabError {
    match err {
        Error::NotFound => GitlabError::NotFound("404 Not found"),
        Error::Forbidden | Error::MissingScope(_) => GitlabError::Forbidden,
        Error::Unauthenticated => GitlabError::Unauthorized,
        Error::Failed(reason) => GitlabError::BadRequest(reason),
        Error::Invalid(errors) => GitlabError::Model(errors),
        Error::RateLimited(limit) => GitlabError::TooManyRequests(limit),
        Error::Internal(cause) => GitlabError::Internal(cause),
    }
}

/// The request's parameters (query string, then body) and caller.
struct Call {
    params: Params,
    who: Principal,
}

/// 401 first: a token from `PRIVATE-TOKEN`, `JOB-TOKEN`, `Authorization: Bearer` or the
/// `private_token` parameter.
async fn call(
    app: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Result<Call, GitlabError> {
    // The body is read before the token (which may be in it), but a bad body is told only
    // to an authenticated caller: 401 comes first.
    let parsed = params::parse_body(body);
    let mut params = parsed.clone().unwrap_or_default();
    params.merge_pairs(params::query_pairs(uri.query()));
    let header_token = ["private-token", "job-token"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::to_owned);
    let token = header_token
        .or_else(|| crate::http::auth::bearer_token(headers).map(str::to_owned))
        .or_else(|| params.string("private_token", &mut FieldErrors::default()))
        .ok_or(GitlabError::Unauthorized)?;
    let who = accounts::authenticate(app, &token)
        .await
        .map_err(|err| match err {
            Error::Internal(cause) => GitlabError::Internal(cause),
            _ => GitlabError::Unauthorized,
        })?;
    if let Some(Err(limit)) = app.rate_limits.check(who.token) {
        return Err(GitlabError::TooManyRequests(limit));
    }
    if let Err(reason) = parsed {
        return Err(GitlabError::Param(format!("body {reason}")));
    }
    Ok(Call { params, who })
}

/// The project, as the caller may see it (404 "Project Not Found" otherwise).
async fn project(
    app: &AppState,
    call: &Call,
    id: &str,
) -> Result<projects::ProjectView, GitlabError> {
    projects::resolve(app, &call.who, id)
        .await
        .map_err(|err| match err {
            Error::NotFound => GitlabError::NotFound("404 Project Not Found"),
            other => environment_error(other),
        })
}

fn environment_id(segment: &str) -> Result<EnvironmentId, GitlabError> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(EnvironmentId)
        .ok_or(GitlabError::NotFound("404 Not found"))
}

/// A boolean as GitLab takes it: `true/false/True/1/0`.
fn boolean(params: &Params, name: &str) -> Result<Option<bool>, GitlabError> {
    // A blank value counts as not given (so a blank dry_run stays a dry run).
    if params.sent(name) && text(params, name)?.is_none() {
        return Ok(None);
    }
    let mut errors = FieldErrors::default();
    match params.boolean(name, &mut errors) {
        _ if !errors.is_empty() => Err(GitlabError::Param(format!("{name} is invalid"))),
        value => Ok(value),
    }
}

fn text(params: &Params, name: &str) -> Result<Option<String>, GitlabError> {
    let mut errors = FieldErrors::default();
    let value = params.string(name, &mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(GitlabError::Param(format!("{name} is invalid")))
    }
}

fn positive(params: &Params, name: &str, default: i64) -> Result<i64, GitlabError> {
    let mut errors = FieldErrors::default();
    match params.integer(name, &mut errors) {
        None if errors.is_empty() => Ok(default),
        Some(value) if value > 0 => Ok(value),
        _ => Err(GitlabError::Param(format!(
            "{name} does not have a valid value"
        ))),
    }
}

async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
    OriginalUri(original): OriginalUri,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let params = &call.params;
    let name = text(params, "name")?;
    let search = text(params, "search")?;
    if name.is_some() && search.is_some() {
        return Err(GitlabError::Param(
            "name, search cannot be used together".into(),
        ));
    }
    let state = text(params, "states")?;
    if let Some(state) = &state
        && !STATES.contains(&state.as_str())
    {
        return Err(GitlabError::Param(
            "states does not have a valid value".into(),
        ));
    }
    let page = positive(params, "page", 1)?;
    let per_page = positive(params, "per_page", 20)?.min(100);
    let view = project(&app, &call, &id).await?;
    if let Some(search) = &search
        && search.chars().count() < 3
    {
        return Err(GitlabError::BadRequest(
            "Search query is less than 3 characters".into(),
        ));
    }
    let filter = Filter {
        name,
        search,
        state,
    };
    let (environments, total) =
        environments::list(&app, &call.who, view.project.id, &filter, page, per_page)
            .await
            .map_err(environment_error)?;
    let body: Vec<_> = environments
        .iter()
        .map(|e| views::environment(e, Some(&view)))
        .collect();
    let mut response = json_response(StatusCode::OK, &body);
    // Links name the path as the client sent it, prefix included.
    views::pagination(
        response.headers_mut(),
        &headers,
        &original,
        page,
        per_page,
        total,
    );
    Ok(response)
}

async fn show(
    State(app): State<AppState>,
    Path((id, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let view = project(&app, &call, &id).await?;
    let environment_id = environment_id(&environment)?;
    let environment = environments::get(&app, &call.who, view.project.id, environment_id)
        .await
        .map_err(environment_error)?;
    let last = environments::last_deployment(&app, &environment)
        .await
        .map_err(environment_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment_detail(&environment, last.as_ref()),
    ))
}

/// The fields create and update share. Parameter problems fail at once; model problems
/// (GitLab's `{"message": {field: [...]}}`) are collected, to be told only after the project
/// and the caller's rights were checked, as GitLab orders them.
fn read_fields(params: &Params) -> Result<(Change, FieldErrors), GitlabError> {
    let mut change = Change::default();
    let mut model = FieldErrors::default();
    if params.sent("slug") {
        return Err(GitlabError::Param(
            "slug is automatically generated and cannot be changed".into(),
        ));
    }
    if params.sent("external_url") {
        let url = text(params, "external_url")?;
        if let Some(url) = &url {
            let lower = url.trim().to_ascii_lowercase();
            if ["javascript:", "data:", "vbscript:"]
                .iter()
                .any(|s| lower.starts_with(s))
            {
                model.add(
                    "external_url",
                    "is blocked: Only allowed schemes are http, https",
                );
            } else if url.len() > 255 {
                model.add("external_url", "is too long (maximum is 255 characters)");
            }
        }
        change.external_url = Some(url);
    }
    if let Some(tier) = text(params, "tier")? {
        if !TIERS.contains(&tier.as_str()) {
            return Err(GitlabError::Param(
                "tier does not have a valid value".into(),
            ));
        }
        change.tier = Some(tier);
    }
    if params.sent("description") {
        // Descriptions may span lines.
        let mut errors = FieldErrors::default();
        let description = params.raw_string("description", &mut errors);
        if !errors.is_empty() {
            return Err(GitlabError::Param("description is invalid".into()));
        }
        if description.as_deref().is_some_and(|d| d.len() > 10_000) {
            model.add("description", "is too long (maximum is 10000 characters)");
        }
        change.description = Some(description.filter(|d| !d.trim().is_empty()));
    }
    if params.sent("on_stop") {
        let mut errors = FieldErrors::default();
        let script = params
            .raw_string("on_stop", &mut errors)
            .filter(|s| !s.trim().is_empty());
        if !errors.is_empty() {
            return Err(GitlabError::Param("on_stop is invalid".into()));
        }
        if script.as_deref().is_some_and(|s| s.len() > 64 * 1024) {
            model.add("on_stop", "is too long (maximum is 65536 characters)");
        }
        change.on_stop = Some(script);
    }
    if let Some(setting) = text(params, "auto_stop_setting")? {
        if !AUTO_STOP_SETTINGS.contains(&setting.as_str()) {
            return Err(GitlabError::Param(
                "auto_stop_setting does not have a valid value".into(),
            ));
        }
        change.auto_stop_setting = Some(setting);
    }
    Ok((change, model))
}

/// What a create or update request sets; `None` leaves a field as it is.
#[derive(Default, Clone)]
struct Change {
    external_url: Option<Option<String>>,
    tier: Option<String>,
    description: Option<Option<String>>,
    on_stop: Option<Option<String>>,
    auto_stop_setting: Option<String>,
}

impl Change {
    fn apply(self, fields: &mut EnvironmentFields) {
        if let Some(url) = self.external_url {
            fields.external_url = url;
        }
        if let Some(tier) = self.tier {
            fields.tier = tier;
        }
        if let Some(description) = self.description {
            fields.description = description;
        }
        if let Some(script) = self.on_stop {
            fields.on_stop = script;
        }
        if let Some(setting) = self.auto_stop_setting {
            fields.auto_stop_setting = setting;
        }
    }
}

/// Writing needs environments:create; a teardown script runs commands on servers, so setting
/// one needs hooks:create as well.
fn require_write(who: &Principal, params: &Params) -> Result<(), GitlabError> {
    use crate::domain::scopes::{Resource, Scope};
    who.require(Scope::create(Resource::Environments))
        .map_err(|_| GitlabError::Forbidden)?;
    if params.contains("on_stop") {
        who.require(Scope::create(Resource::Hooks))
            .map_err(|_| GitlabError::Forbidden)?;
    }
    Ok(())
}

async fn create(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let name =
        text(&call.params, "name")?.ok_or_else(|| GitlabError::Param("name is missing".into()))?;
    let mut fields = environments::new_fields(&name);
    let (change, mut model) = read_fields(&call.params)?;
    change.apply(&mut fields);
    let view = project(&app, &call, &id).await?;
    require_write(&call.who, &call.params)?;
    if !is_valid_name(&name) {
        model.add(
            "name",
            "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', and spaces, \
             but it cannot start or end with '/'",
        );
    }
    if !model.is_empty() {
        return Err(GitlabError::Model(model));
    }
    let environment = environments::create(&app, &call.who, view.project.id, &name, &fields)
        .await
        .map_err(environment_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::environment(&environment, Some(&view)),
    ))
}

async fn update(
    State(app): State<AppState>,
    Path((id, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    // Parameter errors come before the lookups.
    let (change, model) = read_fields(&call.params)?;
    let view = project(&app, &call, &id).await?;
    require_write(&call.who, &call.params)?;
    if !model.is_empty() {
        return Err(GitlabError::Model(model));
    }
    let environment_id = environment_id(&environment)?;
    // `name` is ignored, as GitLab does.
    let updated =
        environments::update(&app, &call.who, view.project.id, environment_id, |fields| {
            change.apply(fields)
        })
        .await
        .map_err(environment_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment(&updated, Some(&view)),
    ))
}

async fn remove(
    State(app): State<AppState>,
    Path((id, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    // A blank header is no condition, as an absent one.
    let condition = headers
        .get(header::IF_UNMODIFIED_SINCE)
        .filter(|value| !value.as_bytes().iter().all(u8::is_ascii_whitespace));
    let unmodified_since = match condition {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_http_date)
                .ok_or_else(|| GitlabError::Param("If-Unmodified-Since is invalid".into()))?,
        ),
        None => None,
    };
    let view = project(&app, &call, &id).await?;
    let environment_id = environment_id(&environment)?;
    match environments::delete(
        &app,
        &call.who,
        view.project.id,
        environment_id,
        unmodified_since,
    )
    .await
    .map_err(environment_error)?
    {
        DeleteOutcome::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        DeleteOutcome::Modified => Err(GitlabError::PreconditionFailed),
    }
}

async fn stop(
    State(app): State<AppState>,
    Path((id, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let force = boolean(&call.params, "force")?.unwrap_or(false);
    let view = project(&app, &call, &id).await?;
    let environment_id = environment_id(&environment)?;
    let stopped = environments::stop(&app, &call.who, view.project.id, environment_id, force)
        .await
        .map_err(environment_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment(&stopped, Some(&view)),
    ))
}

/// An ISO 8601 date-time parameter, or the error GitLab gives for it.
fn datetime(params: &Params, name: &str) -> Result<Option<Timestamp>, GitlabError> {
    use time::format_description::well_known::Rfc3339;
    match text(params, name)? {
        None => Ok(None),
        Some(value) => time::OffsetDateTime::parse(&value, &Rfc3339)
            .map(|t| Some(Timestamp((t.unix_timestamp_nanos() / 1_000) as i64)))
            .map_err(|_| GitlabError::Param(format!("{name} is invalid"))),
    }
}

async fn clean_up_review_apps(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let params = &call.params;
    let before =
        datetime(params, "before")?.unwrap_or_else(|| Timestamp::now().minus_seconds(30 * 86_400));
    let limit = positive(params, "limit", 100)?;
    if limit > 1000 {
        return Err(GitlabError::Param(
            "limit does not have a valid value".into(),
        ));
    }
    let dry_run = boolean(params, "dry_run")?.unwrap_or(true);
    let view = project(&app, &call, &id).await?;
    let cleanup = environments::clean_up_review_apps(
        &app,
        &call.who,
        view.project.id,
        before,
        limit,
        dry_run,
    )
    .await
    .map_err(environment_error)?;
    let body = views::cleanup(&cleanup);
    if cleanup.scheduled.is_empty() && cleanup.unprocessable.is_empty() {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": body}),
        ));
    }
    Ok(json_response(StatusCode::OK, &body))
}

async fn stop_stale(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, GitlabError> {
    let call = call(&app, &headers, &uri, &body).await?;
    let before = datetime(&call.params, "before")?
        .ok_or_else(|| GitlabError::Param("before is missing".into()))?;
    let view = project(&app, &call, &id).await?;
    require_write(&call.who, &call.params)?;
    let now = Timestamp::now();
    let (oldest, newest) = (
        now.minus_seconds(10 * 365 * 86_400),
        now.minus_seconds(7 * 86_400),
    );
    if before < oldest || before > newest {
        return Err(GitlabError::BadRequest("Invalid Date".into()));
    }
    environments::stop_stale(&app, &call.who, view.project.id, before)
        .await
        .map_err(environment_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Successfully requested stop for all stale environments"}),
    ))
}

/// `If-Unmodified-Since`: an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) or ISO 8601.
fn parse_http_date(text: &str) -> Option<Timestamp> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    // RFC 2822 parsers refuse years before 1900, which an HTTP date may still name.
    let http_date = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = text.trim();
    let parsed = time::OffsetDateTime::parse(text, &Rfc2822)
        .or_else(|_| time::OffsetDateTime::parse(&text.replace("GMT", "+0000"), &Rfc2822))
        .or_else(|_| time::PrimitiveDateTime::parse(text, http_date).map(|at| at.assume_utc()))
        .or_else(|_| time::OffsetDateTime::parse(text, &Rfc3339))
        .ok()?;
    Some(Timestamp((parsed.unix_timestamp_nanos() / 1_000) as i64))
}
