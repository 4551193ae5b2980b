-- Releases as records of their own: every release directory a deployment creates, its state,
-- and on which servers it is complete and live. Rollbacks and the health gate are built on
-- them.

CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    deployment_id BIGINT REFERENCES deployments(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    commit_hash TEXT,
    commit_branch TEXT,
    commit_message TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX releases_project ON releases(project_id, environment, id);
CREATE INDEX releases_deployment ON releases(deployment_id);

-- Per server: whether the release directory is complete there, and whether current points
-- at it.
CREATE TABLE release_servers (
    release_id BIGINT NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    server_id BIGINT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    present BOOLEAN NOT NULL DEFAULT FALSE,
    live BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (release_id, server_id)
);
CREATE INDEX release_servers_server ON release_servers(server_id, live);

-- What a deployment does: "deploy" (build and activate a release), "rollback" (activate an
-- existing one) or "stop" (an environment's teardown, until now requested_from = 'stop').
ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'deploy';
UPDATE deployments SET kind = 'stop', requested_from = 'branch' WHERE requested_from = 'stop';
-- The release a deployment built, or the one a rollback activates.
ALTER TABLE deployments ADD COLUMN release_id BIGINT;
-- The health gate switched the servers back after activation.
ALTER TABLE deployments ADD COLUMN rolled_back BOOLEAN NOT NULL DEFAULT FALSE;

-- One waiting deployment per project; a waiting rollback or teardown does not count.
DROP INDEX deployments_one_pending;
CREATE UNIQUE INDEX deployments_one_pending ON deployments(project_id)
    WHERE status = 'pending' AND kind = 'deploy';

ALTER TABLE projects ADD COLUMN health_gate BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN health_gate_seconds BIGINT NOT NULL DEFAULT 60;
