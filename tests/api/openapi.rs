use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `/api/projects/{project}` and `/api/projects/{projectId}` are the same route.
fn unnamed(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What the running server routes: each path the router was given, asked with every method
/// (with ids of nothing that exists). A method the path does not route answers 405; any other
/// answer (404, 422…) means it is routed.
async fn routed(app: &TestApp, paths: &[String]) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for path in paths {
        let concrete = unnamed(path).replace("{}", "1");
        for method in METHODS {
            let reply = app
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete,
                    Some(&app.token),
                    Body::None,
                )
                .await;
            if reply.status != 405 {
                found.insert((method.to_owned(), unnamed(path)));
            }
        }
    }
    found
}

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                found.insert((method.to_uppercase(), unnamed(path)));
            }
        }
    }
    found
}

async fn document(app: &TestApp, path: &str) -> Value {
    let reply = app.request(Method::GET, path, None, Body::None).await;
    assert_eq!(reply.status, 200, "{path}");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.body["openapi"], "3.1.0");
    reply.body
}

fn assert_same(routed: &BTreeSet<(String, String)>, documented: &BTreeSet<(String, String)>) {
    let undocumented: Vec<_> = routed.difference(documented).collect();
    let unrouted: Vec<_> = documented.difference(routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

/// Every operation the routers serve is in the documents, and every documented operation is
/// served: a route added without documentation fails here.
async fn documents_match_the_routers(backend: Backend) {
    let app = spawn_app(backend).await;
    let envoyer = document(&app, "/api/openapi.json").await;
    let envoyer_routes = routed(&app, &slipway::http::envoyer::routed_paths()).await;
    assert_eq!(envoyer_routes.len(), 55, "{envoyer_routes:?}");
    assert_same(&envoyer_routes, &documented(&envoyer));

    let gitlab = document(&app, "/api/v4/openapi.json").await;
    let gitlab_routes = routed(&app, &slipway::http::gitlab::routed_paths()).await;
    assert_eq!(gitlab_routes.len(), 8, "{gitlab_routes:?}");
    assert_same(&gitlab_routes, &documented(&gitlab));
}

on_both_databases!(documents_match_the_routers);

fn schema<'a>(document: &'a Value, name: &str) -> &'a Value {
    &document["components"]["schemas"][name]
}

/// The schemas say what the types say: required fields, nullability, enums, ranges, scopes.
#[tokio::test]
async fn schemas_come_from_the_types() {
    let app = spawn_app(Backend::Sqlite).await;
    let envoyer = document(&app, "/api/openapi.json").await;
    let new_server = schema(&envoyer, "NewServer");
    assert_eq!(
        new_server["required"],
        serde_json::json!(["name", "connectAs", "host", "phpVersion"])
    );
    assert_eq!(new_server["properties"]["port"]["maximum"], 65535);
    assert!(
        new_server["properties"]["phpVersion"]["enum"]
            .as_array()
            .unwrap()
            .contains(&"php83".into())
    );
    assert!(schema(&envoyer, "ServerChanges")["required"].is_null());

    let project = schema(&envoyer, "Project");
    assert_eq!(project["properties"]["token"]["type"], "string");
    assert_eq!(
        project["properties"]["deploy_key"]["type"],
        serde_json::json!(["string", "null"])
    );
    assert_eq!(project["properties"]["webhook_id"]["type"], "null");
    // Always sent, even when null: required and nullable.
    let required = project["required"].as_array().unwrap();
    for field in ["deploy_key", "monitor", "webhook_id", "last_deployment_id"] {
        assert!(required.contains(&field.into()), "{field} is not required");
    }
    let deployment = schema(&envoyer, "Deployment");
    let required = deployment["required"].as_array().unwrap();
    assert!(required.contains(&"rolled_back".into()));
    // Sent only by the detail: optional, and never null when sent.
    assert!(!required.contains(&"processes".into()));
    assert_eq!(deployment["properties"]["processes"]["type"], "array");
    assert_eq!(
        schema(&envoyer, "DeploymentStatus")["enum"],
        serde_json::json!(["pending", "running", "finished", "error", "cancelled"])
    );

    let create_server = &envoyer["paths"]["/api/projects/{projectId}/servers"]["post"];
    assert_eq!(
        create_server["security"],
        serde_json::json!([{"token": ["servers:create"]}])
    );
    for status in ["200", "401", "403", "404", "422", "429"] {
        assert!(
            create_server["responses"][status].is_object(),
            "{status} is not documented"
        );
    }

    let gitlab = document(&app, "/api/v4/openapi.json").await;
    let environment = schema(&gitlab, "Environment");
    assert_eq!(
        environment["properties"]["tier"]["enum"],
        serde_json::json!(["production", "staging", "testing", "development", "other"])
    );
    assert!(
        !environment["required"]
            .as_array()
            .unwrap()
            .contains(&"project".into())
    );
    let create = &gitlab["paths"]["/api/v4/projects/{id}/environments"]["post"];
    assert!(create["responses"]["201"].is_object());
}

/// `/api/docs` is an interactive reference of both documents, served without a CDN.
#[tokio::test]
async fn the_reference_page_is_served_from_the_binary() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app
        .request(Method::GET, "/api/docs/", None, Body::None)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("https://"),
        "a page that reaches out: {}",
        page.text
    );
    let config = app
        .request(
            Method::GET,
            "/api/docs/swagger-initializer.js",
            None,
            Body::None,
        )
        .await;
    assert_eq!(config.status, 200);
    assert!(config.text.contains("/api/openapi.json"), "{}", config.text);
    assert!(
        config.text.contains("/api/v4/openapi.json"),
        "{}",
        config.text
    );
}

/// The reference as a person uses it in a browser: both documents render every operation,
/// and "Try it out" with a token reaches the server it is served from.
#[tokio::test]
async fn the_reference_page_works_in_a_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    app.project("Marketing site").await;
    let browser = crate::browser::Browser::start().await;
    browser.resize(1280, 1600).await;
    browser.goto(&format!("{}/api/docs/", app.address)).await;
    browser.find("#operations-Projects-listProjects").await;
    let operations = browser
        .run("return document.querySelectorAll('.opblock').length")
        .await;
    assert_eq!(operations, 55, "every Envoyer operation is listed");
    browser.screenshot("docs-envoyer").await;

    browser.click(".btn.authorize").await;
    browser.type_into(".auth-container input", &app.token).await;
    browser.click(".auth-btn-wrapper .authorize").await;
    browser.click(".auth-btn-wrapper .btn-done").await;
    browser
        .click("#operations-Projects-listProjects .opblock-summary")
        .await;
    // "Try it out" is on from the start.
    browser
        .click("#operations-Projects-listProjects .execute")
        .await;
    browser
        .wait_for_text(
            "#operations-Projects-listProjects .live-responses-table tbody .response-col_status",
            "200",
        )
        .await;
    let body = browser
        .text("#operations-Projects-listProjects .live-responses-table .microlight")
        .await;
    assert!(body.contains("Marketing site"), "{body}");
    browser.screenshot("docs-envoyer-try-it-out").await;

    browser
        .run(
            "const select = document.querySelector('.download-url-wrapper select'); \
             select.value = select.options[1].value; \
             select.dispatchEvent(new Event('change', {bubbles: true})); return select.value",
        )
        .await;
    browser
        .find("#operations-Environments-listEnvironments")
        .await;
    let operations = browser
        .run("return document.querySelectorAll('.opblock').length")
        .await;
    assert_eq!(operations, 8, "every GitLab operation is listed");
    browser.screenshot("docs-gitlab").await;
}
