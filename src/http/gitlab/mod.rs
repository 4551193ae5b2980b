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
use crate::domain::ids::EnvironmentId;
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem};
use crate::error::{Error, RateLimit};
use crate::http::openapi::Routes;
use crate::http::params;
use crate::services::access::Principal;
use crate::services::accounts;
use crate::services::environments::{self, Change, DeleteOutcome, ListQuery, ReviewAppQuery};
use crate::services::projects::ProjectKey;

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
    Model(serde_json::Map<String, Value>),
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
            GitlabError::Model(fields) => (StatusCode::BAD_REQUEST, json!({"message": fields})),
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

/// A service's error in GitLab's words and order.
fn gitlab_error(err: Error) -> GitlabError {
    match err {
        Error::NoProject => GitlabError::NotFound("404 Project Not Found"),
        Error::NotFound => GitlabError::NotFound("404 Not found"),
        Error::Forbidden | Error::MissingScope(_) => GitlabError::Forbidden,
        Error::Unauthenticated => GitlabError::Unauthorized,
        Error::Failed(failure) => {
            GitlabError::BadRequest(crate::http::envoyer::words::failure(&failure))
        }
        Error::Invalid(errors) => invalid(&errors),
        Error::RateLimited(limit) => GitlabError::TooManyRequests(limit),
        Error::Internal(cause) => GitlabError::Internal(cause),
    }
}

/// Field problems as GitLab tells them: a parameter problem or a refused request first (the
/// first one), else every field's problems together.
fn invalid(errors: &FieldErrors) -> GitlabError {
    for (field, problems) in errors.iter() {
        for problem in problems {
            match problem {
                Problem::Exclusive(other) => {
                    return GitlabError::Param(format!("{field}, {other} cannot be used together"));
                }
                Problem::ReadOnly => {
                    return GitlabError::Param(format!(
                        "{field} is automatically generated and cannot be changed"
                    ));
                }
                Problem::NotOneOf | Problem::OutOfRange => {
                    return GitlabError::Param(format!("{field} does not have a valid value"));
                }
                Problem::TooShort(min) if field == "search" => {
                    return GitlabError::BadRequest(format!(
                        "Search query is less than {min} characters"
                    ));
                }
                Problem::DateWindow => return GitlabError::BadRequest("Invalid Date".into()),
                Problem::AlreadyStopped => {
                    return GitlabError::BadRequest(
                        "Attempted to stop the environment but failed to change the status".into(),
                    );
                }
                _ => {}
            }
        }
    }
    let mut model = serde_json::Map::new();
    for (field, problems) in errors.iter() {
        let messages: Vec<Value> = problems
            .iter()
            .map(|problem| Value::String(model_message(field, problem)))
            .collect();
        model.insert(field.to_owned(), Value::Array(messages));
    }
    GitlabError::Model(model)
}

/// A model validation message, GitLab's way: the field is the subject, left unsaid.
fn model_message(field: &str, problem: &Problem) -> String {
    match problem {
        Problem::TooLong(max) => format!("is too long (maximum is {max} characters)"),
        Problem::Scheme => "is blocked: Only allowed schemes are http, https".to_owned(),
        Problem::EnvironmentName => "can contain only letters, digits, '-', '_', '/', '$', '{', \
            '}', '.', and spaces, but it cannot start or end with '/'"
            .to_owned(),
        Problem::Taken => "has already been taken".to_owned(),
        Problem::Required => "can't be blank".to_owned(),
        other => crate::http::envoyer::words::sentence(field, other),
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

/// The environment a path names; `None` (not found, in its turn) when it is no id.
fn environment_id(segment: &str) -> Option<EnvironmentId> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(EnvironmentId)
}

/// A boolean as GitLab takes it: JSON `true`/`false`, or `true/false/True/1/0` as text.
fn boolean(params: &Params, name: &str) -> Result<Option<bool>, GitlabError> {
    // A blank value counts as not given (so a blank dry_run stays a dry run).
    if params.is_blank(name) {
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

fn integer(params: &Params, name: &str) -> Result<Option<i64>, GitlabError> {
    let mut errors = FieldErrors::default();
    let value = params.integer(name, &mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(GitlabError::Param(format!(
            "{name} does not have a valid value"
        )))
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
    let query = ListQuery {
        name: text(params, "name")?,
        search: text(params, "search")?,
        state: text(params, "states")?,
        page: integer(params, "page")?,
        per_page: integer(params, "per_page")?,
    };
    let listed = environments::list(&app, &call.who, ProjectKey::IdOrPath(&id), &query)
        .await
        .map_err(gitlab_error)?;
    let body: Vec<_> = listed
        .environments
        .iter()
        .map(|e| views::environment(e, Some(&listed.project)))
        .collect();
    let mut response = json_response(StatusCode::OK, &body);
    // Links name the path as the client sent it, prefix included.
    views::pagination(
        response.headers_mut(),
        &headers,
        &original,
        listed.page,
        listed.per_page,
        listed.total,
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
    let shown = environments::show(
        &app,
        &call.who,
        ProjectKey::IdOrPath(&id),
        environment_id(&environment),
    )
    .await
    .map_err(gitlab_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment_detail(&shown.environment, shown.last.as_ref()),
    ))
}

/// What a create or update sends, read as GitLab reads parameters: a wrong type fails at
/// once; the rules on the values are the service's.
fn read_change(params: &Params) -> Result<Change, GitlabError> {
    let raw = |name: &str| -> Result<Option<String>, GitlabError> {
        // Descriptions and scripts may span lines.
        let mut errors = FieldErrors::default();
        let value = params.raw_string(name, &mut errors);
        if errors.is_empty() {
            Ok(value.filter(|v| !v.trim().is_empty()))
        } else {
            Err(GitlabError::Param(format!("{name} is invalid")))
        }
    };
    let sent = |name: &str| params.sent(name);
    Ok(Change {
        slug_sent: sent("slug"),
        external_url: if sent("external_url") {
            Some(text(params, "external_url")?)
        } else {
            None
        },
        tier: text(params, "tier")?,
        description: if sent("description") {
            Some(raw("description")?)
        } else {
            None
        },
        on_stop: if sent("on_stop") {
            Some(raw("on_stop")?)
        } else {
            None
        },
        auto_stop_setting: text(params, "auto_stop_setting")?,
    })
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
    let change = read_change(&call.params)?;
    let created = environments::create(&app, &call.who, ProjectKey::IdOrPath(&id), &name, change)
        .await
        .map_err(gitlab_error)?;
    Ok(json_response(
        StatusCode::CREATED,
        &views::environment(&created.environment, Some(&created.project)),
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
    // `name` is ignored, as GitLab does.
    let change = read_change(&call.params)?;
    let updated = environments::update(
        &app,
        &call.who,
        ProjectKey::IdOrPath(&id),
        environment_id(&environment),
        change,
    )
    .await
    .map_err(gitlab_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment(&updated.environment, Some(&updated.project)),
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
    match environments::delete(
        &app,
        &call.who,
        ProjectKey::IdOrPath(&id),
        environment_id(&environment),
        unmodified_since,
    )
    .await
    .map_err(gitlab_error)?
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
    let stopped = environments::stop(
        &app,
        &call.who,
        ProjectKey::IdOrPath(&id),
        environment_id(&environment),
        force,
    )
    .await
    .map_err(gitlab_error)?;
    Ok(json_response(
        StatusCode::OK,
        &views::environment(&stopped.environment, Some(&stopped.project)),
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
    let query = ReviewAppQuery {
        before: datetime(params, "before")?,
        limit: integer(params, "limit")?,
        dry_run: boolean(params, "dry_run")?,
    };
    let cleanup =
        environments::clean_up_review_apps(&app, &call.who, ProjectKey::IdOrPath(&id), &query)
            .await
            .map_err(gitlab_error)?;
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
    environments::stop_stale(&app, &call.who, ProjectKey::IdOrPath(&id), before)
        .await
        .map_err(gitlab_error)?;
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
