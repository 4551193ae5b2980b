//! The dashboard: a third dialect over the same services, as server-rendered pages. Sessions
//! are a random HttpOnly cookie; every form carries the session's anti-forgery token, and a
//! state-changing request without it is refused with 419.

mod pages;
mod settings;
mod sign_in;
mod views;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::views::{
    ErrorPage, FormErrors, FormValues, Layout, LoginPage, NewProjectPage, ProjectForms,
    ProjectsPage,
};
use crate::app::{App, AppState};
use crate::domain::ids::{DeploymentId, ProjectId, ServerId};
use crate::domain::validation::Params;
use crate::error::Error;
use crate::http::params;
use crate::services::sessions::{self, Viewer};
use crate::services::{
    self, collaborators, deployments, env_file, environments, heartbeats, hooks, notifications,
    projects, releases, servers,
};

const COOKIE: &str = "slipway_session";
/// Guards the sign-in form, before there is a session.
const LOGIN_COOKIE: &str = "slipway_login";
/// Projects per page of the projects list.
const PAGE: i64 = 50;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(pages::projects_page))
        .route("/login", get(sign_in::login_page).post(sign_in::login))
        .route("/logout", post(sign_in::logout))
        .route("/projects", post(pages::create_project))
        .route("/projects/new", get(pages::new_project_page))
        .route("/projects/status", get(pages::projects_status))
        .route("/projects/{project}/servers", post(pages::add_server))
        .route("/projects/{project}/settings", get(settings::settings_page))
        .route(
            "/projects/{project}/settings/{section}",
            post(settings::settings_change),
        )
        .route(
            "/projects/{project}/settings/{section}/{item}/{verb}",
            post(settings::settings_item),
        )
        .route("/projects/{project}", get(pages::project_page))
        .route("/projects/{project}/deploy", post(pages::deploy))
        .route("/projects/{project}/rollback", post(pages::roll_back))
        .route(
            "/projects/{project}/servers/{server}/refresh",
            post(pages::refresh_server),
        )
        .route(
            "/projects/{project}/deployments/{deployment}",
            get(pages::deployment_page),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/events",
            get(pages::deployment_events),
        )
        .route(
            "/projects/{project}/deployments/{deployment}/cancel",
            post(pages::cancel_deployment),
        )
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// No script, style or frame from anywhere else; no framing of these pages.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages may show secrets (a heartbeat's URL, the .env): never kept in a cache.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard says what is wrong in the same sentences as the Envoyer API.
pub(crate) use crate::http::envoyer::words;

/// Every field's problems, as sentences.
pub(crate) fn messages(errors: &crate::domain::validation::FieldErrors) -> Vec<String> {
    errors
        .iter()
        .flat_map(|(field, problems)| problems.iter().map(move |p| words::sentence(field, p)))
        .collect()
}

/// A page's failure as a page: not found (another user's project too), refused, or broken.
pub struct PageError(Error);

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        PageError(err)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self.0 {
            Error::NotFound | Error::NoProject => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_owned(),
            ),
            Error::Forbidden | Error::MissingScope(_) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your sign-in does not allow this.".to_owned(),
            ),
            Error::Unauthenticated => return Redirect::to("/login").into_response(),
            Error::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "That did not work",
                messages(&errors).join(" "),
            ),
            Error::Failed(failure) => (
                StatusCode::BAD_REQUEST,
                "That did not work",
                words::failure(&failure),
            ),
            Error::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Please wait a moment and try again.".to_owned(),
            ),
            Error::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "a dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Slipway could not show this page; its log has the details.".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::default(),
            title,
            message,
        };
        (status, page).into_response()
    }
}

type PageResult = Result<Response, PageError>;

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A cookie of the dashboard's: HttpOnly always, Secure when Slipway is served over https.
/// `value` None clears it.
fn cookie(app: &App, name: &str, value: Option<&str>, path: &str, same_site: &str) -> String {
    let secure = if app.config.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    match value {
        // No Max-Age: the server ends an idle session, the browser forgets it when it closes.
        Some(value) => {
            format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}{secure}")
        }
        None => format!("{name}=; Path={path}; HttpOnly; SameSite={same_site}; Max-Age=0{secure}"),
    }
}

/// The signed-in person, or `Unauthenticated` (shown as a redirect to /login).
async fn viewer(app: &App, headers: &HeaderMap) -> Result<Viewer, PageError> {
    let cookie = session_cookie(headers).ok_or(Error::Unauthenticated)?;
    Ok(sessions::resume(app, cookie).await?)
}

/// The signed-in person behind a page's own background request (a status poll, an event
/// stream): a 401 rather than a redirect when the session is over, so that the page stops
/// asking. A poll does not keep the session alive.
async fn background_viewer(app: &App, headers: &HeaderMap, poll: bool) -> Result<Viewer, Response> {
    let over = || StatusCode::UNAUTHORIZED.into_response();
    let cookie = session_cookie(headers).ok_or_else(over)?;
    let resumed = if poll {
        sessions::resume_quietly(app, cookie).await
    } else {
        sessions::resume(app, cookie).await
    };
    match resumed {
        Ok(viewer) => Ok(viewer),
        Err(Error::Unauthenticated) => Err(over()),
        Err(err) => Err(PageError(err).into_response()),
    }
}

/// A state-changing request: the signed-in person and the form's fields, once its
/// anti-forgery token matched; otherwise a 419 that changes nothing.
async fn form(app: &App, headers: &HeaderMap, body: &Bytes) -> Result<(Viewer, Params), Response> {
    let viewer = viewer(app, headers)
        .await
        .map_err(IntoResponse::into_response)?;
    let params = params::parse_body(body).unwrap_or_default();
    let token = params
        .string("_token", &mut Default::default())
        .unwrap_or_default();
    if !crate::crypto::secrets_match(&token, &viewer.csrf) {
        return Err(expired(Some(&viewer.csrf)));
    }
    Ok((viewer, params))
}

/// A state-changing request on a project: as [`form`], with the project's id from the path.
async fn project_form(
    app: &App,
    headers: &HeaderMap,
    body: &Bytes,
    project: &str,
) -> Result<(Viewer, Params, ProjectId), Response> {
    let (viewer, params) = form(app, headers, body).await?;
    let project = id::<ProjectId>(project).map_err(IntoResponse::into_response)?;
    Ok((viewer, params, project))
}

/// 419: a form that was stale or did not come from these pages; nothing was changed.
fn expired(csrf: Option<&str>) -> Response {
    let page = ErrorPage {
        layout: Layout {
            csrf: csrf.map(str::to_owned),
            notice: None,
        },
        title: "Page expired",
        message: "This form was stale or did not come from Slipway. Reload the page and try \
                  again."
            .to_owned(),
    };
    let status = StatusCode::from_u16(419).unwrap_or(StatusCode::FORBIDDEN);
    (status, page).into_response()
}

fn id<T: From<i64>>(segment: &str) -> Result<T, PageError> {
    Ok(T::from(services::parse_id(segment)?))
}
