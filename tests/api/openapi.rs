use reqwest::Method;

use crate::helpers::*;

/// The document describes every route, and every route it describes exists: without a token
/// each documented operation reaches authentication (401) instead of 404 or 405.
async fn document_matches_the_router(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .request(Method::GET, "/api/openapi.json", None, Body::None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let document = &reply.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = app
                .request(method.clone(), &concrete, None, Body::None)
                .await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} is documented but not routed"
            );
            assert!(operation["responses"]["200"].is_object(), "{method} {path}");
        }
    }
    assert_eq!(
        operations,
        slipway::http::envoyer::openapi::operation_count()
    );
    assert_eq!(operations, 50);
    let create_server = &paths["/api/projects/{projectId}/servers"]["post"];
    assert!(create_server["responses"]["403"].is_object());
    let required =
        create_server["requestBody"]["content"]["application/json"]["schema"]["required"].clone();
    assert_eq!(
        required,
        serde_json::json!(["name", "connectAs", "host", "phpVersion"])
    );
    let project_schema = &paths["/api/projects/{projectId}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["properties"]["project"];
    assert_eq!(project_schema["properties"]["token"]["type"], "string");
    assert_eq!(
        project_schema["properties"]["should_deploy_again"]["type"],
        "integer"
    );
}

on_both_databases!(document_matches_the_router);
