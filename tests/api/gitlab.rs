//! The GitLab Environments API v4 dialect.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

const LISTED: &[&str] = &[
    "id",
    "name",
    "slug",
    "external_url",
    "created_at",
    "updated_at",
    "tier",
    "project",
    "state",
    "auto_stop_at",
    "description",
    "auto_stop_setting",
    "on_stop",
];

async fn create_get_list_update_stop_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let token = app.token.clone();
    let base = format!("/projects/{project}/environments");

    let created = app
        .gitlab(
            Method::POST,
            &base,
            Some(&token),
            Body::Form(&[
                ("name", "review/fix-foo"),
                ("external_url", "https://fix-foo.example.com"),
            ]),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.headers["content-type"], "application/json");
    assert_eq!(keys(&created.body), LISTED);
    assert_eq!(created.body["slug"], "review-fix-foo-v25cyx");
    assert_eq!(created.body["state"], "available");
    assert_eq!(created.body["tier"], "development");
    assert_eq!(
        created.body["project"]["path_with_namespace"],
        "laravel/laravel"
    );
    assert_eq!(created.body["project"]["namespace"]["full_path"], "laravel");
    let stamp = created.body["created_at"].as_str().unwrap();
    assert!(
        stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );
    let id = created.body["id"].as_i64().unwrap();

    // Get one: no project, with last_deployment.
    let one = app
        .gitlab(
            Method::GET,
            &format!("{base}/{id}"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(one.status, 200);
    let mut expected: Vec<&str> = LISTED.iter().copied().filter(|k| *k != "project").collect();
    expected.push("last_deployment");
    assert_eq!(keys(&one.body), expected);
    assert_eq!(one.body["last_deployment"], Value::Null);

    // The project by its URL-encoded path; production exists from the start.
    let list = app
        .gitlab(
            Method::GET,
            "/projects/laravel%2Flaravel/environments",
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(list.status, 200, "{list:?}");
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "review/fix-foo"]);
    assert_eq!(keys(&list.body[0]), LISTED);

    let updated = app.gitlab(Method::PUT, &format!("{base}/{id}"), Some(&token), Body::Json(json!({
        "name": "ignored", "external_url": "", "tier": "staging", "description": "Fix foo", "auto_stop_setting": "with_action"
    }))).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["name"], "review/fix-foo");
    assert_eq!(updated.body["external_url"], Value::Null);
    assert_eq!(
        (
            updated.body["tier"].as_str(),
            updated.body["description"].as_str()
        ),
        (Some("staging"), Some("Fix foo"))
    );
    assert_eq!(updated.body["auto_stop_setting"], "with_action");

    // Deleting needs a stopped environment.
    let refused = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/{id}"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(
        (refused.status, refused.body.clone()),
        (403, json!({"message": "403 Forbidden"}))
    );
    let stopped = app
        .gitlab(
            Method::POST,
            &format!("{base}/{id}/stop"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(
        (stopped.status, stopped.body["state"].as_str()),
        (200, Some("stopped"))
    );
    let again = app
        .gitlab(
            Method::POST,
            &format!("{base}/{id}/stop"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.body,
        json!({"message": "400 Bad request - Attempted to stop the environment but failed to change the status"})
    );
    let forced = app
        .gitlab(
            Method::POST,
            &format!("{base}/{id}/stop"),
            Some(&token),
            Body::Form(&[("force", "True")]),
        )
        .await;
    assert_eq!(forced.status, 200);
    // python-gitlab sends JSON booleans.
    let forced_again = app
        .gitlab(
            Method::POST,
            &format!("{base}/{id}/stop"),
            Some(&token),
            Body::Json(json!({"force": true})),
        )
        .await;
    assert_eq!(forced_again.status, 200, "{forced_again:?}");
    let deleted = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/{id}"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    let list = app
        .gitlab(
            Method::GET,
            &format!("{base}?states=stopped"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        0,
        "the environment was deleted"
    );
}

async fn deleting_honours_if_unmodified_since(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let base = format!("/projects/{project}/environments");
    let created = app
        .gitlab(
            Method::POST,
            &base,
            Some(&app.token),
            Body::Form(&[("name", "old")]),
        )
        .await;
    let id = created.body["id"].as_i64().unwrap();
    app.gitlab(
        Method::POST,
        &format!("{base}/{id}/stop"),
        Some(&app.token),
        Body::None,
    )
    .await;
    let response = app
        .client
        .delete(format!("{}/api/v4{base}/{id}", app.address))
        .header("PRIVATE-TOKEN", &app.token)
        .header("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "412 Precondition Failed"})
    );
    let deleter = app
        .token_for("admin@slipway.local", "environments:delete")
        .await;
    let response = app
        .client
        .delete(format!("{}/api/v4{base}/{id}", app.address))
        .header("PRIVATE-TOKEN", &deleter)
        .header("If-Unmodified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "unmodified since then: deleted");
    let gone = app
        .gitlab(
            Method::GET,
            &format!("{base}/{id}"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        (gone.status, gone.body.clone()),
        (404, json!({"message": "404 Not found"}))
    );
}

/// Method, path, token, body, expected status and body.
type Case<'a> = (Method, String, Option<&'a str>, Body, u16, Value);

async fn errors_have_gitlab_bodies_in_gitlab_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let base = format!("/projects/{project}/environments");
    let t = Some(app.token.as_str());
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            base.clone(),
            None,
            Body::None,
            401,
            json!({"message": "401 Unauthorized"}),
        ),
        (
            Method::GET,
            base.clone(),
            Some("glpat-wrong"),
            Body::None,
            401,
            json!({"message": "401 Unauthorized"}),
        ),
        (
            Method::POST,
            base.clone(),
            t,
            Body::Form(&[("external_url", "https://x.example.com")]),
            400,
            json!({"error": "name is missing"}),
        ),
        (
            Method::POST,
            base.clone(),
            t,
            Body::Form(&[("name", "x"), ("slug", "y")]),
            400,
            json!({"error": "slug is automatically generated and cannot be changed"}),
        ),
        (
            Method::POST,
            base.clone(),
            t,
            Body::Form(&[("name", "x"), ("tier", "prod")]),
            400,
            json!({"error": "tier does not have a valid value"}),
        ),
        (
            Method::POST,
            base.clone(),
            t,
            Body::Form(&[("name", "production")]),
            400,
            json!({"message": {"name": ["has already been taken"]}}),
        ),
        (
            Method::POST,
            base.clone(),
            t,
            Body::Form(&[("name", "x"), ("external_url", "javascript:alert(1)")]),
            400,
            json!({"message": {"external_url": ["is blocked: Only allowed schemes are http, https"]}}),
        ),
        (
            Method::GET,
            format!("{base}?search=pr"),
            t,
            Body::None,
            400,
            json!({"message": "400 Bad request - Search query is less than 3 characters"}),
        ),
        (
            Method::GET,
            format!("{base}?name=a&search=abc"),
            t,
            Body::None,
            400,
            json!({"error": "name, search cannot be used together"}),
        ),
        (
            Method::GET,
            format!("{base}?states=broken"),
            t,
            Body::None,
            400,
            json!({"error": "states does not have a valid value"}),
        ),
        (
            Method::GET,
            format!("{base}?per_page=0"),
            t,
            Body::None,
            400,
            json!({"error": "per_page does not have a valid value"}),
        ),
        (
            Method::GET,
            "/projects/999/environments".into(),
            t,
            Body::None,
            404,
            json!({"message": "404 Project Not Found"}),
        ),
        (
            Method::GET,
            "/projects/nobody%2Fnothing/environments".into(),
            t,
            Body::None,
            404,
            json!({"message": "404 Project Not Found"}),
        ),
        (
            Method::GET,
            format!("{base}/999"),
            t,
            Body::None,
            404,
            json!({"message": "404 Not found"}),
        ),
        (
            Method::PUT,
            format!("{base}/1"),
            t,
            Body::Form(&[("slug", "x")]),
            400,
            json!({"error": "slug is automatically generated and cannot be changed"}),
        ),
    ];
    for (method, path, token, body, status, expected) in cases {
        let reply = app.gitlab(method.clone(), &path, token, body).await;
        assert_eq!(
            (reply.status, &reply.body),
            (status, &expected),
            "{method} {path}"
        );
        assert_eq!(
            reply.headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
    let bad_name = app
        .gitlab(Method::POST, &base, t, Body::Form(&[("name", "bad;name")]))
        .await;
    assert_eq!(bad_name.status, 400);
    assert!(
        bad_name.body["message"]["name"][0]
            .as_str()
            .unwrap()
            .starts_with("can contain only letters")
    );

    // Another user's project is not found; a token without the scope is forbidden.
    let stranger = app.token_for("stranger@example.com", "*").await;
    let hidden = app
        .gitlab(Method::GET, &base, Some(&stranger), Body::None)
        .await;
    assert_eq!(
        (hidden.status, hidden.body.clone()),
        (404, json!({"message": "404 Project Not Found"}))
    );
    let reader = app.token_for("admin@slipway.local", "").await;
    let forbidden = app
        .gitlab(
            Method::POST,
            &base,
            Some(&reader),
            Body::Form(&[("name", "x")]),
        )
        .await;
    assert_eq!(
        (forbidden.status, forbidden.body.clone()),
        (403, json!({"message": "403 Forbidden"}))
    );
    let listed = app
        .gitlab(Method::GET, &base, Some(&reader), Body::None)
        .await;
    assert_eq!(listed.status, 200);

    // GitLab's order: 401 even before a bad body; parameters before the project; model
    // errors only after the project and the caller's rights; 403 before the environment.
    let anonymous = app
        .gitlab(
            Method::POST,
            &base,
            None,
            Body::Raw("application/json", "{broken"),
        )
        .await;
    assert_eq!(
        (anonymous.status, anonymous.body.clone()),
        (401, json!({"message": "401 Unauthorized"}))
    );
    let blocked = Body::Form(&[("name", "x"), ("external_url", "javascript:alert(1)")]);
    let unknown = app
        .gitlab(Method::POST, "/projects/999/environments", t, blocked)
        .await;
    assert_eq!(unknown.body, json!({"message": "404 Project Not Found"}));
    let blocked = Body::Form(&[("name", "x"), ("external_url", "javascript:alert(1)")]);
    let unauthorised = app
        .gitlab(Method::POST, &base, Some(&reader), blocked)
        .await;
    assert_eq!(unauthorised.status, 403);
    // A teardown script runs on servers: setting one needs hooks:create too.
    let env_only = app
        .token_for("admin@slipway.local", "environments:create")
        .await;
    let script = app
        .gitlab(
            Method::POST,
            &base,
            Some(&env_only),
            Body::Form(&[("name", "y"), ("on_stop", "rm -rf /srv/app")]),
        )
        .await;
    assert_eq!(script.status, 403);
    let plain = app
        .gitlab(
            Method::POST,
            &base,
            Some(&env_only),
            Body::Form(&[("name", "y"), ("description", "line one\nline two")]),
        )
        .await;
    assert_eq!(plain.status, 201, "{plain:?}");
    assert_eq!(plain.body["description"], "line one\nline two");
    let early = app
        .gitlab(
            Method::GET,
            "/projects/999/environments?per_page=0",
            t,
            Body::None,
        )
        .await;
    assert_eq!(
        early.body,
        json!({"error": "per_page does not have a valid value"})
    );
    let creator = app
        .token_for("admin@slipway.local", "environments:create")
        .await;
    for (method, path) in [
        (Method::DELETE, format!("{base}/999")),
        (Method::DELETE, format!("{base}/review_apps")),
    ] {
        let reply = app
            .gitlab(method.clone(), &path, Some(&creator), Body::None)
            .await;
        assert_eq!(
            (reply.status, &reply.body),
            (403, &json!({"message": "403 Forbidden"})),
            "{method} {path}"
        );
    }
}

async fn every_way_of_sending_a_token_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let url = format!("{}/api/v4/projects/{project}/environments", app.address);
    let c = &app.client;
    for request in [
        c.get(&url).header("PRIVATE-TOKEN", &app.token),
        c.get(&url).header("JOB-TOKEN", &app.token),
        c.get(&url).bearer_auth(&app.token),
        c.get(format!("{url}?private_token={}", app.token)),
    ] {
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
}

async fn pagination_headers_and_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let base = format!("/projects/{project}/environments");
    for index in 0..24 {
        let name = format!("review/app-{index:02}");
        let reply = app
            .gitlab(
                Method::POST,
                &base,
                Some(&app.token),
                Body::Json(json!({"name": name})),
            )
            .await;
        assert_eq!(reply.status, 201);
    }
    let page = app
        .gitlab(
            Method::GET,
            &format!("{base}?per_page=10&page=2&search=review"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(page.status, 200);
    let h = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        (
            h("x-page"),
            h("x-per-page"),
            h("x-next-page"),
            h("x-prev-page")
        ),
        ("2".into(), "10".into(), "3".into(), "1".into())
    );
    assert_eq!(
        (h("x-total"), h("x-total-pages")),
        ("24".into(), "3".into())
    );
    assert_eq!(page.body.as_array().unwrap().len(), 10);
    assert_eq!(page.body[0]["name"], "review/app-10");
    let link = h("link");
    let host = app.address.trim_start_matches("http://");
    assert!(link.contains(&format!("<http://{host}/api/v4/projects/{project}/environments?page=1&per_page=10&search=review>; rel=\"prev\"")), "{link}");
    assert!(
        link.contains("page=3&per_page=10&search=review>; rel=\"next\""),
        "{link}"
    );
    assert!(
        link.contains("rel=\"first\"")
            && link.contains("page=3&per_page=10&search=review>; rel=\"last\""),
        "{link}"
    );

    let last = app
        .gitlab(
            Method::GET,
            &format!("{base}?per_page=10&page=3"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(last.headers["x-next-page"], "");
    assert_eq!(
        last.body.as_array().unwrap().len(),
        5,
        "production and 24 review apps"
    );
    let capped = app
        .gitlab(
            Method::GET,
            &format!("{base}?per_page=500"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(capped.headers["x-per-page"], "100");
    // The largest page there is: empty, not a dropped connection (found by the fuzzing run).
    let farthest = app
        .gitlab(
            Method::GET,
            &format!("{base}?page={}", i64::MAX),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(farthest.status, 200);
    assert_eq!(farthest.body, json!([]));
    assert_eq!(farthest.headers["x-next-page"], "");
    let empty = app
        .gitlab(
            Method::GET,
            &format!("{base}?name=nothing"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        (
            empty.headers["x-total"].to_str().unwrap(),
            empty.headers["x-total-pages"].to_str().unwrap()
        ),
        ("0", "1")
    );
    let exact = app
        .gitlab(
            Method::GET,
            &format!("{base}?name=review%2Fapp-03"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(exact.body.as_array().unwrap().len(), 1);
}

/// A deployment makes last_deployment appear, with GitLab's words for its status.
async fn last_deployment_comes_from_slipway_deployments(backend: Backend) {
    use slipway::db::deployments::{self, NewDeployment};
    use slipway::domain::ids::ProjectId;
    use slipway::domain::time::Timestamp;
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let now = Timestamp::now();
    let id = deployments::insert(
        &mut &app.app.store,
        ProjectId(project),
        &NewDeployment {
            user_id: Some(1),
            commit_branch: Some("main".into()),
            commit_hash: Some("416d8ea11849050d3d1f5104cf8cf51053e790ab".into()),
            status: slipway::domain::deployment::DeploymentStatus::Pending,
            ..Default::default()
        },
        now,
    )
    .await
    .unwrap();
    deployments::set_status(
        &mut &app.app.store,
        id,
        slipway::domain::deployment::DeploymentStatus::Finished,
        Some(now),
        Some(now),
        now,
    )
    .await
    .unwrap();
    let one = app
        .gitlab(
            Method::GET,
            &format!("/projects/{project}/environments/1"),
            Some(&app.token),
            Body::None,
        )
        .await;
    let last = &one.body["last_deployment"];
    assert_eq!(last["id"], id.0);
    assert_eq!(last["iid"], 1);
    assert_eq!(last["status"], "success");
    assert_eq!(last["ref"], "main");
    assert_eq!(last["sha"], "416d8ea11849050d3d1f5104cf8cf51053e790ab");
    assert_eq!(last["user"]["name"], "Admin");
    assert_eq!(last["deployable"], Value::Null);
}

async fn review_apps_are_picked_scheduled_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let base = format!("/projects/{project}/environments");
    let mut ids = std::collections::HashMap::new();
    // name, stopped, days old
    for (name, stop, age) in [
        ("review/a", true, 40),
        ("review/b", false, 40),
        ("reviews/c", true, 40),
        ("review/d", true, 50),
        ("staging", true, 40),
        ("review/e", true, 1),
        ("Review/f", true, 40),
    ] {
        let created = app
            .gitlab(
                Method::POST,
                &base,
                Some(&app.token),
                Body::Json(json!({"name": name})),
            )
            .await;
        let id = created.body["id"].as_i64().unwrap();
        if stop {
            app.gitlab(
                Method::POST,
                &format!("{base}/{id}/stop"),
                Some(&app.token),
                Body::None,
            )
            .await;
        }
        let micros = slipway::domain::time::Timestamp::now()
            .minus_seconds(age * 86_400)
            .micros();
        execute_sql(
            &app,
            &format!("UPDATE environments SET created_at = {micros} WHERE id = {id}"),
        )
        .await;
        ids.insert(name, id);
    }
    let names = |reply: &Reply, key: &str| -> Vec<String> {
        reply.body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let dry = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(dry.status, 200, "{dry:?}");
    assert_eq!(
        names(&dry, "scheduled_entries"),
        ["review/d", "review/a"],
        "oldest first, only stopped review/* before the cutoff"
    );
    assert_eq!(dry.body["unprocessable_entries"], json!([]));
    assert_eq!(
        keys(&dry.body["scheduled_entries"][0]),
        [
            "id",
            "name",
            "slug",
            "external_url",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        count_rows(&app, "environments", "delete_at IS NOT NULL").await,
        0,
        "a dry run writes nothing"
    );

    let blank = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps?dry_run="),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(blank.status, 200);
    assert_eq!(
        count_rows(&app, "environments", "delete_at IS NOT NULL").await,
        0,
        "a blank dry_run is a dry run"
    );
    let one = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps?dry_run=false&limit=1"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(names(&one, "scheduled_entries"), ["review/d"]);
    let rest = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps"),
            Some(&app.token),
            Body::Form(&[("dry_run", "0")]),
        )
        .await;
    assert_eq!(
        names(&rest, "scheduled_entries"),
        ["review/a"],
        "already scheduled ones are not picked again"
    );
    let none = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps?dry_run=false"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        (none.status, none.body.clone()),
        (
            400,
            json!({"message": {"scheduled_entries": [], "unprocessable_entries": []}})
        )
    );
    let bad = app
        .gitlab(
            Method::DELETE,
            &format!("{base}/review_apps?limit=5000"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        bad.body,
        json!({"error": "limit does not have a valid value"})
    );

    // A week later the worker's sweep deletes them.
    assert_eq!(
        count_rows(&app, "environments", "delete_at IS NOT NULL").await,
        2
    );
    execute_sql(
        &app,
        "UPDATE environments SET delete_at = 1 WHERE delete_at IS NOT NULL",
    )
    .await;
    let deleted = slipway::services::environments::delete_scheduled(
        &app.app,
        slipway::domain::time::Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(deleted, 2);
    for name in ["review/a", "review/d"] {
        let gone = app
            .gitlab(
                Method::GET,
                &format!("{base}/{}", ids[name]),
                Some(&app.token),
                Body::None,
            )
            .await;
        assert_eq!(gone.status, 404, "{name}");
    }
    let kept = app
        .gitlab(
            Method::GET,
            &format!("{base}/{}", ids["review/e"]),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(kept.status, 200);
}

async fn stop_stale_stops_environments_not_deployed_to_since(backend: Backend) {
    use slipway::db::deployments::{self, NewDeployment};
    use slipway::domain::ids::ProjectId;
    use slipway::domain::time::Timestamp;
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let base = format!("/projects/{project}/environments");
    let old = Timestamp::now().minus_seconds(60 * 86_400);
    deployments::insert(
        &mut &app.app.store,
        ProjectId(project),
        &NewDeployment {
            status: slipway::domain::deployment::DeploymentStatus::Finished,
            ..Default::default()
        },
        old,
    )
    .await
    .unwrap();
    let never = app
        .gitlab(
            Method::POST,
            &base,
            Some(&app.token),
            Body::Json(json!({"name": "never-deployed"})),
        )
        .await;
    let recent = app
        .gitlab(
            Method::POST,
            &base,
            Some(&app.token),
            Body::Json(json!({"name": "recent"})),
        )
        .await;
    execute_sql(
        &app,
        &format!("UPDATE environments SET updated_at = {}", old.micros()),
    )
    .await;
    execute_sql(
        &app,
        &format!(
            "INSERT INTO deployments (project_id, status, environment, created_at, updated_at) \
         VALUES ({project}, 'finished', 'recent', {now}, {now})",
            now = Timestamp::now().micros()
        ),
    )
    .await;

    let before = (time::OffsetDateTime::now_utc() - time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (value, expected) in [
        (
            "2001-01-01T00:00:00Z",
            json!({"message": "400 Bad request - Invalid Date"}),
        ),
        ("yesterday", json!({"error": "before is invalid"})),
    ] {
        let reply = app
            .gitlab(
                Method::POST,
                &format!("{base}/stop_stale"),
                Some(&app.token),
                Body::Json(json!({"before": value})),
            )
            .await;
        assert_eq!((reply.status, reply.body), (400, expected));
    }
    let reply = app
        .gitlab(
            Method::POST,
            &format!("{base}/stop_stale"),
            Some(&app.token),
            Body::Json(json!({"before": before})),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let production = app
        .gitlab(
            Method::GET,
            &format!("{base}/1"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(production.body["state"], "stopped");
    let never = app
        .gitlab(
            Method::GET,
            &format!("{base}/{}", never.body["id"]),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        never.body["state"], "stopped",
        "not deployed to nor changed since: stale"
    );
    let fresh = app
        .gitlab(
            Method::GET,
            &format!("{base}/{}", recent.body["id"]),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(
        fresh.body["state"], "available",
        "deployed to since the date"
    );
}

/// A deployment to a stopped environment makes it available again and cancels its scheduled
/// deletion.
async fn deploying_revives_a_stopped_environment(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    app.server(project, "web").await;
    let base = format!("/projects/{project}/environments");
    app.gitlab(
        Method::POST,
        &format!("{base}/1/stop"),
        Some(&app.token),
        Body::None,
    )
    .await;
    execute_sql(&app, "UPDATE environments SET delete_at = 1 WHERE id = 1").await;
    let queued = app
        .post(&format!("/api/projects/{project}/deployments"), json!({}))
        .await;
    assert_eq!(queued.status, 200, "{queued:?}");
    let production = app
        .gitlab(
            Method::GET,
            &format!("{base}/1"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(production.body["state"], "available");
    assert_eq!(
        slipway::services::environments::delete_scheduled(
            &app.app,
            slipway::domain::time::Timestamp::now()
        )
        .await
        .unwrap(),
        0
    );
}

on_both_databases!(
    deploying_revives_a_stopped_environment,
    review_apps_are_picked_scheduled_and_deleted,
    stop_stale_stops_environments_not_deployed_to_since,
    create_get_list_update_stop_delete,
    deleting_honours_if_unmodified_since,
    errors_have_gitlab_bodies_in_gitlab_order,
    every_way_of_sending_a_token_works,
    pagination_headers_and_links,
    last_deployment_comes_from_slipway_deployments,
);
