//! Signing in and out: the sign-in page and its guard, sessions opened and ended.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::domain::validation::Problem;

pub(super) async fn login_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if viewer(&app, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    login_form(&app, &headers, StatusCode::OK, String::new(), None, None)
}

/// The sign-in page. Before a session exists its forms are protected by a random value in a
/// cookie of their own and in the form (double submit): another site can send neither.
fn login_form(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    email: String,
    email_error: Option<String>,
    token_error: Option<String>,
) -> Response {
    // The guard a browser already holds is kept, so that two open sign-in pages both work.
    let guard = cookie_named(headers, LOGIN_COOKIE)
        .filter(|g| g.len() == 40 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::crypto::random_token(40));
    let page = LoginPage {
        layout: Layout::default(),
        guard: guard.clone(),
        email,
        email_error,
        token_error,
    };
    let set = cookie(app, LOGIN_COOKIE, Some(&guard), "/login", "Strict");
    (status, [(header::SET_COOKIE, set)], page).into_response()
}

pub(super) async fn login(State(app): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    // Behind no proxy, the peer; unknown when served without connection info.
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| sessions::client_key(peer.ip()))
        .unwrap_or_default();
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        let too_large = Problem::Unreadable("The form is too large.".into());
        return PageError(Error::invalid("email", too_large)).into_response();
    };
    let params = params::parse_body(&body).unwrap_or_default();
    let field = |name: &str| {
        params
            .string(name, &mut Default::default())
            .unwrap_or_default()
    };
    let guard = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    if guard.is_empty() || !crate::crypto::secrets_match(guard, &field("_token")) {
        return expired(None);
    }
    let (email, token) = (field("email"), field("token"));
    let signed_in = if token.is_empty() {
        let password = SecretString::from(field("password"));
        sessions::sign_in_with_password(&app, &email, &password, &client).await
    } else {
        sessions::sign_in_with_token(&app, &token, &client).await
    };
    match signed_in {
        Ok(session) => {
            // A session this browser held before ends: one sign-in, one session.
            if let Some(old) = session_cookie(&headers) {
                let _ = sessions::sign_out(&app, old).await;
            }
            let set_cookie = cookie(&app, COOKIE, Some(session.expose_secret()), "/", "Lax");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, set_cookie),
                ],
            )
                .into_response()
        }
        Err(Error::Invalid(errors)) => {
            let message = Some(super::messages(&errors).join(" "));
            let (email_error, token_error) = if token.is_empty() {
                (message, None)
            } else {
                (None, message)
            };
            login_form(
                &app,
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                email_error,
                token_error,
            )
        }
        Err(err) => PageError(err).into_response(),
    }
}

pub(super) async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = form(&app, &headers, &body).await {
        return refused;
    }
    if let Some(cookie) = session_cookie(&headers)
        && let Err(err) = sessions::sign_out(&app, cookie).await
    {
        return PageError(err).into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_owned()),
            (header::SET_COOKIE, cookie(&app, COOKIE, None, "/", "Lax")),
        ],
    )
        .into_response()
}
