//! python-gitlab, unmodified from PyPI, drives the environments API end to end.

use std::process::Command;

use crate::helpers::*;

const SCRIPT: &str = r#"
import os, sys
import gitlab

gl = gitlab.Gitlab(os.environ["URL"], private_token=os.environ["TOKEN"])
project = gl.projects.get(int(os.environ["PROJECT"]), lazy=True)

for i in range(25):
    project.environments.create({"name": f"review/app-{i:02d}"})
envs = project.environments.list(get_all=True)
assert len(envs) == 26, f"get_all found {len(envs)}"
assert [e.name for e in envs][:2] == ["production", "review/app-00"]

env = project.environments.get(envs[1].id)
assert env.slug.startswith("review-app-00-"), env.slug
env.external_url = "https://app-00.example.com"
env.save()
assert project.environments.get(env.id).external_url == "https://app-00.example.com"

env.stop()
assert project.environments.get(env.id).state == "stopped"
env.delete()
try:
    project.environments.get(env.id)
    sys.exit("deleted environment still there")
except gitlab.exceptions.GitlabGetError as error:
    assert error.response_code == 404

for e in envs[2:6]:
    e.stop()
response = gl.http_delete(
    f"/projects/{project.id}/environments/review_apps",
    query_data={"before": "2100-01-01T00:00:00Z", "dry_run": False},
)
scheduled = response.json()["scheduled_entries"]
assert [e["name"] for e in scheduled] == [f"review/app-0{i}" for i in range(1, 5)], scheduled
print("python-gitlab: all good")
"#;

async fn python_gitlab_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let project = app.project("Shop").await;
    let python = python_tools().join("python");
    let url = app.address.clone();
    let token = app.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .env("URL", url)
            .env("TOKEN", token)
            .env("PROJECT", project.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python-gitlab failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("python-gitlab: all good"), "{stdout}");
    assert_eq!(
        count_rows(&app, "environments", "delete_at IS NOT NULL").await,
        4
    );
}

on_both_databases!(python_gitlab_end_to_end);
