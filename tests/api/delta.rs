//! Delta releases: each server receives what changed since the commit its source copy holds,
//! and the result is the tree a full deployment makes; releases never share a writable file;
//! Composer starts from the live release's `vendor/` when its files did not change.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::helpers::*;

/// One entry of a release's tree as a comparison sees it.
#[derive(Debug, PartialEq)]
enum Entry {
    File { mode: u32, contents: Vec<u8> },
    Directory { mode: u32 },
    Link(String),
}

/// Every entry under `root`, by path; links are not followed. Slipway's own `.env` link goes,
/// since it names the server's own deployment path.
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<String, Entry>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let kind = if meta.file_type().is_symlink() {
                Entry::Link(std::fs::read_link(&path).unwrap().display().to_string())
            } else if meta.is_dir() {
                walk(root, &path, entries);
                Entry::Directory { mode }
            } else {
                Entry::File {
                    mode,
                    contents: std::fs::read(&path).unwrap(),
                }
            };
            entries.insert(name, kind);
        }
    }
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries.remove(".env");
    entries
}

fn assert_same_tree(delta: &BTreeMap<String, Entry>, full: &BTreeMap<String, Entry>) {
    let paths = |tree: &BTreeMap<String, Entry>| tree.keys().cloned().collect::<Vec<_>>();
    assert_eq!(paths(delta), paths(full), "the same paths");
    for (path, entry) in delta {
        assert_eq!(Some(entry), full.get(path), "{path}");
    }
}

/// The output of one of the deployment's steps on each server, by server name.
async fn step_outputs(fleet: &Fleet, deployment: &Value, step: &str) -> BTreeMap<String, String> {
    let path = format!(
        "/api/projects/{}/deployments/{}/output",
        fleet.project, deployment["id"]
    );
    let reply = fleet.app.get(&path).await;
    reply.body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == step)
        .map(|p| {
            (
                p["server_name"].as_str().unwrap().to_owned(),
                p["output"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn clone_outputs(fleet: &Fleet, deployment: &Value) -> BTreeMap<String, String> {
    step_outputs(fleet, deployment, "Clone New Release").await
}

async fn composer_output(fleet: &Fleet, deployment: &Value) -> String {
    step_outputs(fleet, deployment, "Install Composer Dependencies")
        .await
        .remove("server-1")
        .unwrap()
}

async fn deploy_finished(fleet: &Fleet) -> Value {
    let deployment = fleet.deploy(json!({})).await;
    assert_eq!(deployment["status"], "finished", "{deployment}");
    deployment
}

async fn set_delta(fleet: &Fleet, on: bool) {
    let reply = fleet
        .request(Method::PUT, "", json!({"delta_releases": on}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["project"]["delta_releases"], on);
}

fn live_tree(fleet: &Fleet, server: usize) -> BTreeMap<String, Entry> {
    tree(&fleet.path(server).join("current/"))
}

/// Waits until the server's spare copy of its source is ready (it is made in the background
/// after each deployment).
async fn wait_for_spare(fleet: &Fleet, server: usize) {
    let marker = fleet.path(server).join(".slipway/spare.commit");
    let source = fleet.path(server).join(".slipway/source.commit");
    for _ in 0..600 {
        let ready = std::fs::read_to_string(&marker).ok();
        if ready.is_some() && ready == std::fs::read_to_string(&source).ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no spare copy after 30 s");
}

fn write(dir: &Path, path: &str, text: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn chmod(dir: &Path, path: &str, mode: u32) {
    std::fs::set_permissions(dir.join(path), std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn delta_releases_are_the_trees_full_ones_are(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    // A FreeBSD server always takes the whole tree, unpacked straight into the release.
    fleet.add_server("server-2", json!({"freebsd": true})).await;
    let repo = &fleet.repo;
    type Edit = fn(&Path);
    let series: [(&str, Edit); 8] = [
        ("Add files, a script and a link", |dir| {
            write(dir, "-rf", "a name like an option\n");
            write(dir, "with space/and\nnewline.txt", "odd names\n");
            write(dir, "app/Models/User.php", "<?php class User {}\n");
            write(dir, "bin/run", "#!/bin/sh\necho run\n");
            chmod(dir, "bin/run", 0o755);
            write(dir, "docs", "a file that becomes a directory\n");
            write(dir, "old/inside.txt", "a directory that becomes a file\n");
            symlink("app/Models/User.php", dir.join("user-link")).unwrap();
        }),
        ("Modify, delete and rename", |dir| {
            std::fs::remove_file(dir.join("-rf")).unwrap();
            write(dir, "with space/and\nnewline.txt", "odd names, changed\n");
            write(dir, "public/index.html", "<h1>two</h1>\n");
            std::fs::remove_file(dir.join("README.md")).unwrap();
            std::fs::rename(dir.join("app/Models/User.php"), dir.join("app/User.php")).unwrap();
            std::fs::remove_file(dir.join("user-link")).unwrap();
            symlink("app/User.php", dir.join("user-link")).unwrap();
        }),
        ("Change modes", |dir| {
            chmod(dir, "bin/run", 0o644);
            chmod(dir, "public/index.html", 0o755);
        }),
        ("A file becomes a directory, a directory a file", |dir| {
            std::fs::remove_file(dir.join("docs")).unwrap();
            write(dir, "docs/index.md", "# Docs\n");
            std::fs::remove_dir_all(dir.join("old")).unwrap();
            write(dir, "old", "now a file\n");
        }),
        ("Only delete", |dir| {
            std::fs::remove_file(dir.join("bin/run")).unwrap();
        }),
        ("A link to a directory becomes a directory", |dir| {
            symlink("public", dir.join("assets")).unwrap();
        }),
        ("... with files in it", |dir| {
            std::fs::remove_file(dir.join("assets")).unwrap();
            write(dir, "assets/app.css", "body {}\n");
        }),
        ("Empty a directory, a link becomes a file", |dir| {
            std::fs::remove_dir_all(dir.join("app")).unwrap();
            std::fs::remove_file(dir.join("user-link")).unwrap();
            write(dir, "user-link", "a file now\n");
        }),
    ];
    let first = deploy_finished(&fleet).await;
    assert!(clone_outputs(&fleet, &first).await["server-1"].contains("Unpacking the whole tree"));
    for (index, (message, edit)) in series.into_iter().enumerate() {
        repo.change(message, edit);
        // Every other time, the spare copy made after the last deployment is ready and the
        // release starts from it; else the release is a copy of the source.
        let from_spare = index % 2 == 0;
        if from_spare {
            wait_for_spare(&fleet, 0).await;
        }
        let deployment = deploy_finished(&fleet).await;
        let outputs = clone_outputs(&fleet, &deployment).await;
        let (delta, whole) = (&outputs["server-1"], &outputs["server-2"]);
        // A link that becomes a directory takes the whole tree: nothing may be unpacked
        // through a link.
        let expected = if message.starts_with("...") {
            "Unpacking the whole tree"
        } else {
            "Applying the changes since"
        };
        assert!(delta.contains(expected), "{message}: {delta}");
        assert!(whole.contains("Unpacking the whole tree"), "{whole}");
        if from_spare && expected != "Unpacking the whole tree" {
            assert!(
                delta.contains("Starting from the copy made after the last deployment"),
                "{message}: {delta}"
            );
        }
        // Deltas chain on server-1; server-2 unpacked the whole tree.
        assert_same_tree(&live_tree(&fleet, 0), &live_tree(&fleet, 1));
    }
    assert!(
        !fleet.path(1).join(".slipway/source").exists(),
        "server-2 keeps no copy"
    );
    // Off, every server takes the whole tree.
    set_delta(&fleet, false).await;
    repo.change("Off", |dir| write(dir, "off.txt", "off\n"));
    let full = deploy_finished(&fleet).await;
    let output = &clone_outputs(&fleet, &full).await["server-1"];
    assert!(output.contains("Unpacking the whole tree"), "{output}");
    assert_same_tree(&live_tree(&fleet, 0), &live_tree(&fleet, 1));
    // The series really did all that.
    let last = live_tree(&fleet, 0);
    assert_eq!(
        last.get("docs/index.md"),
        Some(&Entry::File {
            mode: 0o644,
            contents: b"# Docs\n".to_vec()
        })
    );
    assert!(matches!(last.get("old"), Some(Entry::File { .. })));
    assert!(!last.contains_key("app"), "an emptied directory goes");
    assert_eq!(
        last.get("with space/and\nnewline.txt"),
        Some(&Entry::File {
            mode: 0o644,
            contents: b"odd names, changed\n".to_vec()
        })
    );
    assert!(!last.contains_key("-rf"));
    assert!(
        !last.contains_key("bin"),
        "so does one whose last file was deleted"
    );
    assert_eq!(
        last.get("REVISION"),
        Some(&Entry::File {
            mode: 0o644,
            contents: format!("{}\n", repo.head()).into_bytes()
        })
    );
}

async fn a_server_without_the_base_gets_the_whole_tree(backend: Backend) {
    let mut fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    deploy_finished(&fleet).await;
    fleet
        .repo
        .commit(&[("a.txt", "a\n")], "Add a", "Eve", "eve@example.com");
    // A server that joins holds nothing: the whole tree; the other one the delta.
    fleet.add_server("server-2", json!({})).await;
    let deployment = deploy_finished(&fleet).await;
    let outputs = clone_outputs(&fleet, &deployment).await;
    assert!(
        outputs["server-1"].contains("Applying the changes since"),
        "{outputs:?}"
    );
    assert!(
        outputs["server-2"].contains("Unpacking the whole tree"),
        "{outputs:?}"
    );
    assert_same_tree(&live_tree(&fleet, 0), &live_tree(&fleet, 1));

    // A source copy removed by hand: the server says so, and gets the whole tree instead.
    std::fs::remove_dir_all(fleet.path(0).join(".slipway/source")).unwrap();
    fleet
        .repo
        .commit(&[("b.txt", "b\n")], "Add b", "Eve", "eve@example.com");
    let deployment = deploy_finished(&fleet).await;
    let outputs = clone_outputs(&fleet, &deployment).await;
    let server_1 = &outputs["server-1"];
    assert!(
        server_1.contains("is not at") && server_1.contains("Unpacking the whole tree"),
        "{server_1}"
    );
    assert!(outputs["server-2"].contains("Applying the changes since"));
    assert_same_tree(&live_tree(&fleet, 0), &live_tree(&fleet, 1));

    // A changed .gitattributes may change how unchanged files are written: the whole tree.
    fleet.repo.commit(
        &[(".gitattributes", "*.txt text eol=crlf\n")],
        "Attributes",
        "Eve",
        "eve@example.com",
    );
    let deployment = deploy_finished(&fleet).await;
    let outputs = clone_outputs(&fleet, &deployment).await;
    assert!(
        outputs
            .values()
            .all(|o| o.contains("Unpacking the whole tree")),
        "{outputs:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fleet.path(0).join("current/a.txt")).unwrap(),
        "a\r\n",
        "an unchanged file written anew"
    );
    assert_eq!(
        std::fs::read_to_string(fleet.path(0).join("current/b.txt")).unwrap(),
        "b\r\n"
    );
    assert_same_tree(&live_tree(&fleet, 0), &live_tree(&fleet, 1));
}

async fn a_hook_writing_into_its_release_changes_no_other(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"type": "other"})).await;
    fleet.repo.commit(
        &[("config/app.php", "<?php return [];\n")],
        "Add config",
        "Eve",
        "eve@example.com",
    );
    fleet
        .hook(json!({
            "name": "Append", "runAs": "slipway-deploy", "actionId": 1, "timing": "after",
            "script": "echo '// built' >> {{ release }}/config/app.php",
        }))
        .await;
    let mut releases = Vec::new();
    for n in 0..3 {
        if n > 0 {
            fleet.repo.commit(
                &[("public/index.html", &format!("<h1>{n}</h1>\n"))],
                "Another page",
                "Eve",
                "eve@example.com",
            );
        }
        if n == 2 {
            // The third release starts from the spare copy of the source.
            wait_for_spare(&fleet, 0).await;
        }
        let deployment = deploy_finished(&fleet).await;
        releases.push(deployment["release"].as_str().unwrap().to_owned());
    }
    let built = "<?php return [];\n// built\n";
    for release in &releases {
        let file = fleet
            .path(0)
            .join("releases")
            .join(release)
            .join("config/app.php");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), built, "{release}");
    }
    let pristine = fleet.path(0).join(".slipway/source/config/app.php");
    assert_eq!(
        std::fs::read_to_string(pristine).unwrap(),
        "<?php return [];\n"
    );
    // No two releases share the file.
    let inodes: std::collections::BTreeSet<u64> = releases
        .iter()
        .map(|r| {
            let file = fleet
                .path(0)
                .join("releases")
                .join(r)
                .join("config/app.php");
            std::fs::metadata(file).unwrap().ino()
        })
        .collect();
    assert_eq!(inodes.len(), releases.len());
}

async fn composer_starts_from_the_live_vendor_when_its_files_are_unchanged(backend: Backend) {
    let fleet = Fleet::new(backend, 1, json!({"composer": true, "type": "other"})).await;
    fleet.repo.commit(
        &[(
            "composer.json",
            "{\"name\": \"slipway/test\", \"require\": {}}\n",
        )],
        "Add composer.json",
        "Eve",
        "eve@example.com",
    );
    let first = deploy_finished(&fleet).await;
    let first_release = fleet
        .path(0)
        .join("releases")
        .join(first["release"].as_str().unwrap());
    // Something only the first release's vendor/ has.
    std::fs::write(first_release.join("vendor/slipway-marker"), "first\n").unwrap();

    fleet.repo.commit(
        &[("public/index.html", "<h1>two</h1>\n")],
        "Page two",
        "Eve",
        "eve@example.com",
    );
    let second = deploy_finished(&fleet).await;
    let composer = composer_output(&fleet, &second).await;
    assert!(
        composer.contains(&format!(
            "starting from release {}'s vendor/",
            first["release"].as_str().unwrap()
        )),
        "{composer}"
    );
    let second_release = fleet
        .path(0)
        .join("releases")
        .join(second["release"].as_str().unwrap());
    assert!(second_release.join("vendor/slipway-marker").is_file());
    assert!(second_release.join("vendor/autoload.php").is_file());
    let inode = |release: &Path| {
        std::fs::metadata(release.join("vendor/autoload.php"))
            .unwrap()
            .ino()
    };
    assert_ne!(
        inode(&first_release),
        inode(&second_release),
        "a copy, not a link"
    );

    // A changed composer.json: a fresh install.
    fleet.repo.commit(
        &[(
            "composer.json",
            "{\"name\": \"slipway/test\", \"description\": \"changed\", \"require\": {}}\n",
        )],
        "Change composer.json",
        "Eve",
        "eve@example.com",
    );
    let third = deploy_finished(&fleet).await;
    let composer = composer_output(&fleet, &third).await;
    assert!(!composer.contains("starting from release"), "{composer}");
    let third_release = fleet
        .path(0)
        .join("releases")
        .join(third["release"].as_str().unwrap());
    assert!(third_release.join("vendor/autoload.php").is_file());
    assert!(!third_release.join("vendor/slipway-marker").exists());
}

on_both_databases!(
    delta_releases_are_the_trees_full_ones_are,
    a_server_without_the_base_gets_the_whole_tree,
    a_hook_writing_into_its_release_changes_no_other,
    composer_starts_from_the_live_vendor_when_its_files_are_unchanged,
);
