//! The dashboard over HTTP: signing in, sessions, anti-forgery tokens, access and escaping.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::json;
use slipway::services::sessions;

use crate::helpers::*;

/// A browser-like client that does not follow redirects, so that they can be checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with a form, as the sign-in page sends it (with its guard cookie and token).
async fn sign_in(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let page = browser()
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let guard = page.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let guard = guard.split(';').next().unwrap().to_owned();
    let token = csrf_in(&page.text().await.unwrap());
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("_token", &token));
    browser()
        .post(format!("{}/login", app.address))
        .header("Cookie", guard)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The session cookie a successful sign-in set (`slipway_session=…`).
fn session_of(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = browser()
        .get(format!("{}{path}", app.address))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The anti-forgery token in a page's forms.
fn csrf_in(html: &str) -> String {
    let marker = "name=\"_token\" value=\"";
    let start = html.find(marker).expect("a form with a token") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(format!("{}{path}", app.address))
        .header("Cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn signing_in_with_a_token_or_a_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;

    // Not signed in: to the sign-in page.
    let (status, _) = page(&app, "", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A page's own background requests get a 401, so that the page stops asking.
    let (status, _) = page(&app, "", &format!("/projects/status?ids={project}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let login = browser()
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(
        login.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap(),
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    );
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("<label for=\"password\">")
    );

    // The printed token signs in.
    let response = sign_in(&app, &[("token", &app.token)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = session_of(&response);
    assert!(cookie.starts_with("slipway_session=sls_"), "{cookie}");
    let (status, html) = page(&app, &cookie, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("href=\"/projects/{project}\">Shop</a>")),
        "{html}"
    );
    // Only the cookie's hash is stored.
    let value = cookie.split_once('=').unwrap().1;
    assert_eq!(
        count_rows(
            &app,
            "web_sessions",
            &format!("id_hash = '{}'", slipway::crypto::token_hash(value))
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(&app, "web_sessions", &format!("id_hash = '{value}'")).await,
        0
    );

    // A password, set as `slipway user password` sets it.
    sessions::set_password(
        &app.app,
        "admin@slipway.local",
        &SecretString::from("correct horse battery".to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(
        count_rows(&app, "users", "password_hash LIKE '$argon2id$%'").await,
        1
    );
    assert_eq!(
        count_rows(&app, "users", "password_hash LIKE '%correct%'").await,
        0
    );
    assert_eq!(
        page(&app, &cookie, "/").await.0,
        StatusCode::SEE_OTHER,
        "a new password signs out the sessions opened before it"
    );
    let cookie = session_of(&sign_in(&app, &[("token", &app.token)]).await);
    let wrong = sign_in(
        &app,
        &[
            ("email", "admin@slipway.local"),
            ("password", "wrong horse"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let session_set = wrong
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("slipway_session"));
    assert!(!session_set, "no session for a wrong password");
    let text = wrong.text().await.unwrap();
    assert!(
        text.contains("These credentials do not match our records."),
        "{text}"
    );
    assert!(
        text.contains("value=\"admin@slipway.local\""),
        "the address is kept"
    );
    let unknown = sign_in(
        &app,
        &[("email", "nobody@example.com"), ("password", "whatever1")],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let right = sign_in(
        &app,
        &[
            ("email", "ADMIN@slipway.local"),
            ("password", "correct horse battery"),
        ],
    )
    .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let second = session_of(&right);
    assert_eq!(page(&app, &second, "/").await.0, 200);

    // Signing out ends that session only.
    let (_, html) = page(&app, &second, "/").await;
    let out = post_form(&app, &second, "/logout", &[("_token", &csrf_in(&html))]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(page(&app, &second, "/").await.0, StatusCode::SEE_OTHER);
    assert_eq!(page(&app, &cookie, "/").await.0, 200);

    // A session idle for 12 hours is over.
    execute_sql(
        &app,
        "UPDATE web_sessions SET last_seen_at = last_seen_at - 43300000000",
    )
    .await;
    assert_eq!(page(&app, &cookie, "/").await.0, StatusCode::SEE_OTHER);
}

/// The sign-in form is refused without its guard, so no other site can sign anyone in.
async fn sign_in_needs_the_forms_guard(backend: Backend) {
    let app = spawn_app(backend).await;
    let forged = browser()
        .post(format!("{}/login", app.address))
        .form(&[("token", app.token.as_str()), ("_token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 419);
    assert!(forged.headers().get(SET_COOKIE).is_none());
    assert_eq!(count_rows(&app, "web_sessions", "TRUE").await, 0);
}

async fn sign_in_attempts_are_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut last = StatusCode::OK;
    let mut text = String::new();
    for _ in 0..12 {
        let response = sign_in(
            &app,
            &[("email", "admin@slipway.local"), ("password", "guess")],
        )
        .await;
        last = response.status();
        text = response.text().await.unwrap();
    }
    assert_eq!(last, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("Too many sign-in attempts"), "{text}");
}

async fn forms_without_the_session_token_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    app.server(project, "web-1").await;
    let cookie = session_of(&sign_in(&app, &[("token", &app.token)]).await);
    let path = format!("/projects/{project}/deploy");
    for form in [
        vec![("ref", "main")],
        vec![("ref", "main"), ("_token", "0123")],
    ] {
        let refused = post_form(&app, &cookie, &path, &form).await;
        assert_eq!(refused.status().as_u16(), 419);
    }
    assert_eq!(count_rows(&app, "deployments", "TRUE").await, 0);
    let refused = post_form(&app, &cookie, "/logout", &[]).await;
    assert_eq!(refused.status().as_u16(), 419);
    assert_eq!(page(&app, &cookie, "/").await.0, 200, "still signed in");

    // With the token, the same form deploys; a bad ref is shown beside the form.
    let (_, html) = page(&app, &cookie, &format!("/projects/{project}")).await;
    let token = csrf_in(&html);
    let bad = post_form(
        &app,
        &cookie,
        &path,
        &[("_token", &token), ("ref", "main;rm -rf /")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("The branch must be a valid git branch name.")
    );
    let queued = post_form(&app, &cookie, &path, &[("_token", &token), ("ref", "main")]).await;
    assert_eq!(queued.status(), StatusCode::SEE_OTHER);
    assert!(
        queued.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with(&format!("/projects/{project}/deployments/"))
    );
    assert_eq!(count_rows(&app, "deployments", "TRUE").await, 1);

    // A rollback that cannot be made says why beside the releases.
    let refused = post_form(
        &app,
        &cookie,
        &format!("/projects/{project}/rollback"),
        &[("_token", &token)],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    let releases = html.find("releases-heading").unwrap();
    let message = html
        .find("There is no earlier release to roll back to")
        .unwrap();
    assert!(
        message > releases,
        "the error stands in the releases section"
    );
}

async fn pages_show_only_what_is_yours_and_escape_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .post(
            "/api/projects",
            json!({"name": "<script>alert(1)</script>", "provider": "github", "repository": "acme/site"}),
        )
        .await;
    let project = reply.body["project"]["id"].as_i64().unwrap();
    let cookie = session_of(&sign_in(&app, &[("token", &app.token)]).await);
    for path in ["/".to_owned(), format!("/projects/{project}")] {
        let (status, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
    }

    let stranger = app.token_for("stranger@example.com", "*").await;
    let theirs = session_of(&sign_in(&app, &[("token", &stranger)]).await);
    for path in [
        format!("/projects/{project}"),
        format!("/projects/{project}/deployments/1"),
        "/projects/99999".to_owned(),
        "/projects/abc".to_owned(),
    ] {
        let (status, html) = page(&app, &theirs, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("<h1>Not found</h1>"), "{html}");
    }
    let (_, html) = page(&app, &theirs, "/").await;
    assert!(
        !html.contains("alert"),
        "another user's project is not listed"
    );
}

/// Every settings form goes through the same services as the API, and says what is wrong.
async fn settings_forms_change_what_the_api_shows(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    app.server(project, "web-1").await;
    app.token_for("friend@example.com", "*").await;
    let cookie = session_of(&sign_in(&app, &[("token", &app.token)]).await);
    let settings = format!("/projects/{project}/settings");
    let (status, html) = page(&app, &cookie, &settings).await;
    assert_eq!(status, 200);
    let token = csrf_in(&html);
    let post = |section: &str, form: Vec<(&str, &str)>| {
        let mut form = form;
        form.push(("_token", &token));
        let path = format!("{settings}/{section}");
        let form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let cookie = cookie.clone();
        let app = &app;
        async move {
            browser()
                .post(format!("{}{path}", app.address))
                .header("Cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };

    let saved = post(
        "project",
        vec![("name", "Shop 2"), ("retain_deployments", "3")],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let shown = app.get(&format!("/api/projects/{project}")).await;
    assert_eq!(shown.body["project"]["name"], "Shop 2");
    assert_eq!(shown.body["project"]["retain_deployments"], 3);

    let source = post(
        "source",
        vec![("provider", "gitlab"), ("repository", "acme/shop")],
    )
    .await;
    assert_eq!(source.status(), StatusCode::SEE_OTHER);
    let linked = post(
        "folders",
        vec![("from", "public/uploads"), ("to", "uploads")],
    )
    .await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    let outside = post("folders", vec![("from", "../etc"), ("to", "x")]).await;
    assert_eq!(outside.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let shown = app.get(&format!("/api/projects/{project}")).await;
    assert_eq!(shown.body["project"]["provider"], "gitlab");
    assert_eq!(shown.body["project"]["plain_repository"], "acme/shop");
    assert_eq!(
        shown.body["project"]["folders"],
        json!([{"from": "public/uploads", "to": "uploads"}])
    );
    let staging = post("environments", vec![("name", "staging")]).await;
    assert_eq!(staging.status(), StatusCode::SEE_OTHER);
    let again = post("environments", vec![("name", "staging")]).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let environments = app
        .gitlab(
            reqwest::Method::GET,
            &format!("/projects/{project}/environments?name=staging"),
            Some(&app.token),
            Body::None,
        )
        .await;
    let staging = environments.body[0]["id"].as_i64().unwrap();
    let stopped = post(&format!("environments/{staging}/stop"), vec![]).await;
    assert_eq!(stopped.status(), StatusCode::SEE_OTHER);
    let environments = app
        .gitlab(
            reqwest::Method::GET,
            &format!("/projects/{project}/environments?name=staging"),
            Some(&app.token),
            Body::None,
        )
        .await;
    assert_eq!(environments.body[0]["state"], "stopped");
    let unlinked = post(
        "folder-removal",
        vec![("from", "public/uploads"), ("to", "uploads")],
    )
    .await;
    assert_eq!(unlinked.status(), StatusCode::SEE_OTHER);
    let shown = app.get(&format!("/api/projects/{project}")).await;
    assert_eq!(shown.body["project"]["folders"], json!([]));

    let missing = post(
        "hooks",
        vec![
            ("name", "Migrate"),
            ("action_id", "3"),
            ("timing", "after"),
            ("run_as", "forge"),
        ],
    )
    .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("The script field is required.")
    );
    let added = post(
        "hooks",
        vec![
            ("name", "Migrate"),
            ("action_id", "3"),
            ("timing", "after"),
            ("run_as", "forge"),
            ("script", "php artisan migrate"),
        ],
    )
    .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let hooks = app.get(&format!("/api/projects/{project}/hooks")).await;
    let hook = hooks.body["hooks"][0]["id"].as_i64().unwrap();
    assert_eq!(
        post(&format!("hooks/{hook}/delete"), vec![]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get(&format!("/api/projects/{project}/hooks"))
            .await
            .body["hooks"],
        json!([])
    );

    assert_eq!(
        post("heartbeats", vec![("name", "Cron"), ("interval", "10")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let (_, html) = page(&app, &cookie, &settings).await;
    assert!(
        html.contains("https://slipway.example.com/heartbeat/"),
        "the check-in URL is shown"
    );

    let channel = post(
        "notifications",
        vec![
            ("name", "Ops"),
            ("type", "slack"),
            ("address", "http://127.0.0.1:9/hook"),
        ],
    )
    .await;
    assert_eq!(channel.status(), StatusCode::SEE_OTHER);
    let channels = app
        .get(&format!("/api/projects/{project}/notifications"))
        .await;
    assert_eq!(channels.body["notifications"][0]["type"], "slack");

    assert_eq!(
        post("collaborators", vec![("email", "friend@example.com")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let people = app
        .get(&format!("/api/projects/{project}/collaborators"))
        .await;
    assert_eq!(
        people.body["collaborators"][0]["email"],
        "friend@example.com"
    );

    // The .env: saved with a key, shown only with it; the key is never stored.
    let save = post(
        "env",
        vec![
            ("do", "save"),
            ("key", "my long key"),
            ("contents", "APP_KEY=base64:secret\n"),
        ],
    )
    .await;
    // Saving writes to the servers, which these tests do not reach: the contents are kept, and
    // the page says which server could not be written.
    assert!(
        matches!(
            save.status(),
            StatusCode::SEE_OTHER | StatusCode::BAD_REQUEST
        ),
        "{:?}",
        save.status()
    );
    let empty = post(
        "env",
        vec![("do", "save"), ("key", "my long key"), ("contents", "")],
    )
    .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty
            .text()
            .await
            .unwrap()
            .contains("The contents are empty")
    );
    let wrong = post("env", vec![("do", "show"), ("key", "wrong key!")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let shown = post("env", vec![("do", "show"), ("key", "my long key")]).await;
    assert_eq!(shown.status(), StatusCode::OK);
    assert!(
        shown
            .text()
            .await
            .unwrap()
            .contains("APP_KEY=base64:secret")
    );
    assert_eq!(
        count_rows(&app, "projects", "environment_sealed LIKE '%secret%'").await,
        0
    );
}

on_both_databases!(
    signing_in_with_a_token_or_a_password,
    sign_in_attempts_are_limited,
    sign_in_needs_the_forms_guard,
    forms_without_the_session_token_change_nothing,
    pages_show_only_what_is_yours_and_escape_everything,
    settings_forms_change_what_the_api_shows,
);
