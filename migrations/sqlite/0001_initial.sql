-- Timestamps are microseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    repository TEXT NOT NULL,
    project_type TEXT NOT NULL,
    branch TEXT NOT NULL,
    push_to_deploy BOOLEAN NOT NULL DEFAULT FALSE,
    retain_deployments BIGINT NOT NULL,
    monitor TEXT,
    install_dependencies BOOLEAN NOT NULL,
    install_dev_dependencies BOOLEAN NOT NULL,
    quiet_composer BOOLEAN NOT NULL,
    token_sealed TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    environment_salt TEXT,
    environment_sealed TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX projects_user ON projects(user_id);

CREATE TABLE linked_folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    from_path TEXT NOT NULL,
    to_path TEXT NOT NULL,
    UNIQUE (project_id, from_path)
);

CREATE TABLE servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    connect_as TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    php_version TEXT NOT NULL,
    freebsd BOOLEAN NOT NULL,
    receives_code_deployments BOOLEAN NOT NULL,
    should_restart_fpm BOOLEAN NOT NULL,
    deployment_path TEXT NOT NULL,
    php_path TEXT NOT NULL,
    composer_path TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    connection_status TEXT NOT NULL,
    current_activity TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX servers_project ON servers(project_id);

CREATE TABLE environment_servers (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    server_id BIGINT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, server_id)
);

CREATE TABLE hooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action_id BIGINT NOT NULL,
    timing TEXT NOT NULL,
    name TEXT NOT NULL,
    run_as TEXT NOT NULL,
    script TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX hooks_project ON hooks(project_id);

CREATE TABLE hook_servers (
    hook_id BIGINT NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    server_id BIGINT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    PRIMARY KEY (hook_id, server_id)
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    commit_branch TEXT,
    commit_hash TEXT,
    commit_author TEXT,
    commit_avatar TEXT,
    commit_message TEXT,
    status TEXT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deployments_project ON deployments(project_id, id);

CREATE TABLE deployment_processes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    server_id BIGINT,
    server_name TEXT,
    sequence BIGINT NOT NULL,
    name TEXT NOT NULL,
    action_id BIGINT,
    hook_id BIGINT,
    status TEXT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    output TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deployment_processes_deployment ON deployment_processes(deployment_id, sequence);

CREATE TABLE heartbeats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_sealed TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    interval_minutes BIGINT NOT NULL,
    status TEXT NOT NULL,
    last_checked_in_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX heartbeats_project ON heartbeats(project_id);

CREATE TABLE collaborators (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators(user_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    address_sealed TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notifications_project ON notifications(project_id);
