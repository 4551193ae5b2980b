//! The domain error in Laravel's words.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self.0 {
            Error::NotFound => (StatusCode::NOT_FOUND, json!({"message": "Not Found."})),
            Error::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"message": "This action is unauthorized."}),
            ),
            // Laravel's words, and which scope would have allowed it.
            Error::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                json!({"message": "This action is unauthorized.", "missing_scope": scope.to_string()}),
            ),
            Error::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Unauthenticated."}),
            ),
            Error::Invalid(errors) => {
                let fields: Map<String, Value> = errors
                    .iter()
                    .map(|(field, messages)| (field.to_owned(), json!(messages)))
                    .collect();
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "The given data was invalid.", "errors": fields}),
                )
            }
            Error::Failed(message) => (StatusCode::BAD_REQUEST, json!({"message": message})),
            Error::RateLimited(limit) => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({"message": "Too Many Attempts."})),
                )
                    .into_response();
                rate_limit_headers(response.headers_mut(), limit);
                return response;
            }
            Error::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "Server Error"}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}
