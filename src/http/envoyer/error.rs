//! The domain error in Laravel's words.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::words;
use crate::error::{Error, RateLimit};

pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn rate_limit_headers(headers: &mut HeaderMap, limit: &RateLimit) {
    let mut set = |name: &'static str, value: u64| {
        headers.insert(name, HeaderValue::from(value));
    };
    set("x-ratelimit-limit", u64::from(limit.limit));
    set("x-ratelimit-remaining", u64::from(limit.remaining));
    if limit.retry_after_secs > 0 {
        set("retry-after", limit.retry_after_secs);
        set("x-ratelimit-reset", limit.reset_at);
    }
}

/// Laravel's error body: one sentence.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageBody<'a> {
    message: &'a str,
}

/// A 403: Laravel's sentence, and the scope that would have allowed the request when a
/// missing scope was the reason.
#[derive(Serialize, ToSchema)]
#[schema(as = Forbidden)]
pub struct ForbiddenBody {
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, examples("projects:create"))]
    missing_scope: Option<String>,
}

/// A 422: each field that failed validation, with its messages.
#[derive(Serialize, ToSchema)]
#[schema(as = ValidationError)]
pub struct InvalidBody<'a> {
    message: &'static str,
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    errors: FieldMessages<'a>,
}

pub struct FieldMessages<'a>(&'a crate::domain::validation::FieldErrors);

impl Serialize for FieldMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(field, problems)| {
            let sentences: Vec<String> = problems
                .iter()
                .map(|problem| words::sentence(field, problem))
                .collect();
            (field, sentences)
        }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = |status: StatusCode, message: &str| {
            (status, axum::Json(MessageBody { message })).into_response()
        };
        match &self.0 {
            Error::NotFound | Error::NoProject => message(StatusCode::NOT_FOUND, "Not Found."),
            Error::Forbidden => (
                StatusCode::FORBIDDEN,
                axum::Json(ForbiddenBody {
                    message: "This action is unauthorized.",
                    missing_scope: None,
                }),
            )
                .into_response(),
            // Laravel's words, and which scope would have allowed it.
            Error::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                axum::Json(ForbiddenBody {
                    message: "This action is unauthorized.",
                    missing_scope: Some(scope.to_string()),
                }),
            )
                .into_response(),
            Error::Unauthenticated => message(StatusCode::UNAUTHORIZED, "Unauthenticated."),
            Error::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(InvalidBody {
                    message: "The given data was invalid.",
                    errors: FieldMessages(errors),
                }),
            )
                .into_response(),
            Error::Failed(failure) => message(StatusCode::BAD_REQUEST, &words::failure(failure)),
            Error::RateLimited(limit) => {
                let mut response = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Attempts.");
                rate_limit_headers(response.headers_mut(), limit);
                response
            }
            Error::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "request failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
            }
        }
    }
}
