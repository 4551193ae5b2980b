//! The OpenAPI document of the `/api` dialect.

use axum::Json;
use serde_json::Value;

pub async fn document() -> Json<Value> {
    Json(serde_json::json!({"openapi": "3.1.0"}))
}
