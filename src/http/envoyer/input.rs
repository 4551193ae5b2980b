//! Request parameters from the query string and a JSON or form body, whatever the body's
//! Content-Type claims.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use super::error::ApiError;
use crate::domain::validation::{Params, Problem};
use crate::error::Error;
use crate::http::params;

pub struct Payload(pub Params);

/// Bodies above this many bytes are parsed on a blocking thread.
const LARGE_BODY: usize = 64 * 1024;

fn unreadable(message: &str) -> ApiError {
    ApiError(Error::invalid(
        "body",
        Problem::Unreadable(message.to_owned()),
    ))
}

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = params::query_pairs(req.uri().query());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| unreadable("The request body is too large or could not be read."))?;
        // A large body is parsed off the async workers, which other requests are waiting for.
        let parsed = if bytes.len() > LARGE_BODY {
            tokio::task::spawn_blocking(move || params::parse_body(&bytes))
                .await
                .map_err(|_| unreadable("The request body could not be read."))?
        } else {
            params::parse_body(&bytes)
        };
        let mut params = parsed.map_err(unreadable)?;
        params.merge_pairs(query);
        Ok(Payload(params))
    }
}
