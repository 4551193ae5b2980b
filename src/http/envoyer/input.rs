//! Request parameters from the query string and a JSON or form body, whatever the body's
//! Content-Type claims.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::validation::Params;
use crate::error::Error;

pub struct Payload(pub Params);

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

fn unreadable(message: &str) -> ApiError {
    ApiError(Error::invalid("body", message))
}

/// Reads a body: JSON when it looks like JSON, else form fields.
pub fn parse_body(bytes: &[u8]) -> Result<Params, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| unreadable("The request body must be UTF-8 text."))?;
    if text.contains('\0') {
        return Err(unreadable("The request body must not contain NUL bytes."));
    }
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Params::default());
    }
    if trimmed.starts_with('{') {
        let map: Map<String, Value> = serde_json::from_str(trimmed)
            .map_err(|_| unreadable("The request body is not valid JSON."))?;
        return Ok(Params::new(map));
    }
    if trimmed.starts_with('[') || trimmed.starts_with('"') {
        return Err(unreadable(
            "The request body must be a JSON object or form fields.",
        ));
    }
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(trimmed)
        .map_err(|_| unreadable("The request body must be a JSON object or form fields."))?;
    let mut params = Params::default();
    params.merge_pairs(pairs);
    Ok(params)
}

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = query_pairs(req.uri().query());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| unreadable("The request body is too large or could not be read."))?;
        let mut params = parse_body(&bytes)?;
        params.merge_pairs(query);
        Ok(Payload(params))
    }
}
