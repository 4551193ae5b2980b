//! Upgrading a database that already holds deployments: what migrations make of the old data.

use slipway::db::{Db, Store};

use crate::helpers::*;

/// Runs the migrations before `version` only, as an older Slipway left the schema.
async fn migrate_before(store: &Store, backend: Backend, version: i64) {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let mut migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    migrator.migrations = older.into();
    match store {
        Store::Sqlite(pool) => migrator.run(pool).await.unwrap(),
        Store::Postgres(pool) => migrator.run(pool).await.unwrap(),
    }
}

async fn run(store: &Store, sql: &str) {
    let mut db = store;
    db.execute(sql, Vec::new()).await.unwrap();
}

async fn rows(store: &Store, sql: &str) -> Vec<(String, String, bool, bool)> {
    let mut db = store;
    db.fetch_all(sql, Vec::new()).await.unwrap()
}

/// The releases of finished deployments become records: the newest live, those the old
/// retention kept ready on every server of their environment, older ones purged.
async fn releases_deployed_before_the_upgrade_are_recorded(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("old.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let store = Store::connect(&url).await.unwrap();
    migrate_before(&store, backend, 6).await;
    run(&store, "INSERT INTO users (name, email, created_at, updated_at) VALUES ('A', 'a@example.com', 1, 1)").await;
    run(
        &store,
        "INSERT INTO projects (user_id, name, provider, repository, project_type, branch, \
           retain_deployments, install_dependencies, install_dev_dependencies, quiet_composer, \
           token_sealed, token_hash, created_at, updated_at) \
         VALUES (1, 'Site', 'custom', 'file:///r', 'other', 'main', 2, FALSE, FALSE, FALSE, 's', 'h', 1, 1)",
    )
    .await;
    for (name, environment, code) in [
        ("web-1", "production", true),
        ("web-2", "production", true),
        ("cron", "production", false),
        ("stage", "staging", true),
    ] {
        run(
            &store,
            &format!(
                "INSERT INTO servers (project_id, user_id, name, connect_as, host, port, php_version, \
                   freebsd, receives_code_deployments, should_restart_fpm, deployment_path, php_path, \
                   composer_path, public_key, private_key_sealed, connection_status, created_at, \
                   updated_at, environment) \
                 VALUES (1, 1, '{name}', 'forge', 'h', 22, 'php83', FALSE, {code}, FALSE, '/srv', 'php', \
                   'composer', 'k', 's', 'successful', 1, 1, '{environment}')"
            ),
        )
        .await;
    }
    // Three finished production deployments, a failed one, a stop and a staging one.
    for (release, status, requested_from, environment) in [
        ("20260101000001", "finished", "branch", "production"),
        ("20260101000002", "finished", "branch", "production"),
        ("20260101000003", "finished", "tag", "production"),
        ("20260101000004", "error", "branch", "production"),
        ("20260101000005", "finished", "stop", "production"),
        ("20260101000006", "finished", "branch", "staging"),
    ] {
        run(
            &store,
            &format!(
                "INSERT INTO deployments (project_id, status, requested_from, release_name, \
                   commit_hash, created_at, updated_at, finished_at, environment) \
                 VALUES (1, '{status}', '{requested_from}', '{release}', 'abc', 1, 1, 2, '{environment}')"
            ),
        )
        .await;
    }

    store.migrate().await.unwrap();
    let recorded = rows(
        &store,
        "SELECT r.name, r.state, rs.present, rs.live FROM releases r \
         JOIN release_servers rs ON rs.release_id = r.id \
         JOIN servers s ON s.id = rs.server_id ORDER BY r.name, s.id",
    )
    .await;
    let expected = [
        ("20260101000002", "ready", true, false),
        ("20260101000002", "ready", true, false),
        ("20260101000003", "live", true, true),
        ("20260101000003", "live", true, true),
        ("20260101000006", "live", true, true),
    ];
    let recorded: Vec<(&str, &str, bool, bool)> = recorded
        .iter()
        .map(|(n, s, p, l)| (n.as_str(), s.as_str(), *p, *l))
        .collect();
    assert_eq!(recorded, expected);
    let states = rows(
        &store,
        "SELECT name, state, TRUE, TRUE FROM releases ORDER BY name",
    )
    .await;
    let states: Vec<(&str, &str)> = states
        .iter()
        .map(|(n, s, _, _)| (n.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("20260101000001", "purged"),
            ("20260101000002", "ready"),
            ("20260101000003", "live"),
            ("20260101000006", "live")
        ]
    );
    let kinds = rows(
        &store,
        "SELECT kind, requested_from, release_id IS NOT NULL, TRUE FROM deployments ORDER BY id",
    )
    .await;
    let kinds: Vec<(&str, &str, bool)> = kinds
        .iter()
        .map(|(k, r, linked, _)| (k.as_str(), r.as_str(), *linked))
        .collect();
    assert_eq!(
        kinds,
        [
            ("deploy", "branch", true),
            ("deploy", "branch", true),
            ("deploy", "tag", true),
            ("deploy", "branch", false),
            ("stop", "branch", false),
            ("deploy", "branch", true)
        ]
    );
}

on_both_databases!(releases_deployed_before_the_upgrade_are_recorded);
