//! Request parameters from the query string and a JSON or form body, whatever the body's
//! Content-Type claims; both dialects read them this way.

use serde_json::{Map, Value};

use crate::domain::validation::Params;

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

/// Reads a body: JSON when it looks like JSON, else form fields. The error says why not.
pub fn parse_body(bytes: &[u8]) -> Result<Params, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "The request body must be UTF-8 text.")?;
    if text.contains('\0') {
        return Err("The request body must not contain NUL bytes.");
    }
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Params::default());
    }
    if trimmed.starts_with('{') {
        let map: Map<String, Value> =
            serde_json::from_str(trimmed).map_err(|_| "The request body is not valid JSON.")?;
        return Ok(Params::new(map));
    }
    if trimmed.starts_with('[') || trimmed.starts_with('"') {
        return Err("The request body must be a JSON object or form fields.");
    }
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(trimmed)
        .map_err(|_| "The request body must be a JSON object or form fields.")?;
    let mut params = Params::default();
    params.merge_pairs(pairs);
    Ok(params)
}
