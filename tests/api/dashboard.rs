//! The dashboard as a person uses it: a real headless Chromium against a real server and the
//! sshd fleet. Each page is saved as a screenshot under `target/screenshots/`.

use serde_json::json;

use crate::browser::Browser;
use crate::fleet::Fleet;
use crate::helpers::*;

/// Signs in with the first-start token, deploys from the project page, watches the deployment
/// page reach "finished" without reloading, cancels a held deployment and rolls back.
async fn deploy_watch_cancel_and_roll_back_in_a_browser(backend: Backend) {
    let fleet = Fleet::new(backend, 2, json!({"name": "Marketing <site>"})).await;
    let base = fleet.app.address.clone();
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/")).await;
    assert!(
        browser.url().await.ends_with("/login"),
        "signed out: to the sign-in page"
    );
    browser.screenshot("login").await;
    browser.type_into("#token", &fleet.app.token).await;
    browser.click("form:nth-of-type(2) button").await;
    browser
        .wait_for_text(
            &format!("tr[data-project=\"{}\"] a", fleet.project),
            "Marketing <site>",
        )
        .await;
    browser.screenshot("projects").await;

    // A project and a server created from the browser; a mistake is shown beside its field.
    browser.click("#new-project").await;
    browser.click("#create-project").await;
    let form = browser.text("main form").await;
    assert!(
        form.contains("The name field is required."),
        "the error stands beside the form: {form}"
    );
    browser.type_into("#name", "Docs").await;
    browser
        .run("document.getElementById('provider').value = 'custom'; return null;")
        .await;
    browser.type_into("#repository", &fleet.repo.url()).await;
    browser.click("#create-project").await;
    browser.type_into("#server-name", "docs-1").await;
    browser.type_into("#server-user", "forge").await;
    browser.type_into("#server-host", "192.0.2.10").await;
    browser.type_into("#server-path", "/srv/docs").await;
    browser.click("#add-server").await;
    browser.find("[id^=\"key-\"]").await;
    assert!(
        browser
            .text("[id^=\"key-\"]")
            .await
            .starts_with("ssh-ed25519 ")
    );
    browser.screenshot("project-new").await;
    browser.goto(&format!("{base}/")).await;

    // Deploy from the project page, and watch it finish on the deployment page.
    browser
        .click(&format!("tr[data-project=\"{}\"] a", fleet.project))
        .await;
    browser.find("#deploy-button").await;
    browser.screenshot("project").await;
    browser.click("#deploy-button").await;
    browser.find("#deployment-status").await;
    browser.run("window.stillHere = true; return null;").await;
    browser
        .wait_for_text("#deployment-status", "finished")
        .await;
    assert_eq!(
        browser.run("return window.stillHere === true;").await,
        json!(true),
        "the page followed the deployment without reloading"
    );
    let release = fleet.current(0).expect("the first release is live");
    assert_eq!(fleet.current(1).as_deref(), Some(release.as_str()));
    browser.goto(&browser.url().await).await;
    browser.screenshot("deployment").await;

    // A held deployment, cancelled from its page.
    let gate = fleet.add_gate().await;
    fleet.repo.commit(
        &[("public/index.html", "<h1>two</h1>\n")],
        "Two",
        "Eve",
        "eve@example.com",
    );
    browser
        .goto(&format!("{base}/projects/{}", fleet.project))
        .await;
    browser.click("#deploy-button").await;
    browser
        .wait_for_text(
            "tr[data-step=\"Gate\"] [data-status=\"running\"]",
            "running",
        )
        .await;
    browser.screenshot("deployment-running").await;
    browser.click("#cancel-form button").await;
    browser
        .wait_for_text("#deployment-status", "cancelled")
        .await;
    gate.open();
    assert_eq!(fleet.current(0).as_deref(), Some(release.as_str()));

    // A second release, then back to the first with "Roll back to this".
    fleet.repo.commit(
        &[("public/index.html", "<h1>three</h1>\n")],
        "Three",
        "Eve",
        "eve@example.com",
    );
    let second = fleet.deploy(json!({})).await;
    assert_eq!(second["status"], "finished", "{second}");
    browser
        .goto(&format!("{base}/projects/{}", fleet.project))
        .await;
    browser.screenshot("project-releases").await;
    browser.click("form[action$=\"/rollback\"] button").await;
    browser
        .wait_for_text("#deployment-status", "finished")
        .await;
    assert_eq!(fleet.current(1).as_deref(), Some(release.as_str()));

    browser
        .goto(&format!("{base}/projects/{}", fleet.project))
        .await;
    browser.click("#settings-link").await;
    browser.find("#hook-script").await;
    browser.screenshot("settings").await;

    // At phone width the project page still reads.
    browser.resize(390, 844).await;
    browser
        .goto(&format!("{base}/projects/{}", fleet.project))
        .await;
    browser.find("#deploy-button").await;
    browser.screenshot("project-phone").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_a_browser() {
    deploy_watch_cancel_and_roll_back_in_a_browser(Backend::Sqlite).await;
}
