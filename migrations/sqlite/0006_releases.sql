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

-- The releases deployments made before this migration, as well as they can be known: each
-- finished deployment's release; the newest of each environment live, the next newest up to
-- the project's retention kept (complete on the environment's servers), older ones purged,
-- as the retention of that time left them. Rollback checks the directory before switching.
INSERT INTO releases (project_id, environment, deployment_id, name, commit_hash, commit_branch,
    commit_message, state, created_at, activated_at, updated_at)
SELECT d.project_id, d.environment, d.id, d.release_name, d.commit_hash, d.commit_branch,
    d.commit_message, 'ready', d.created_at, d.finished_at, d.updated_at
FROM deployments d
WHERE d.kind = 'deploy' AND d.status = 'finished' AND d.release_name IS NOT NULL
ORDER BY d.id;
UPDATE releases SET state = 'purged' WHERE id IN (
    SELECT ranked.id FROM (
        SELECT r.id, p.retain_deployments,
            ROW_NUMBER() OVER (PARTITION BY r.project_id, r.environment ORDER BY r.name DESC) AS age
        FROM releases r JOIN projects p ON p.id = r.project_id
    ) ranked WHERE ranked.age > ranked.retain_deployments);
UPDATE releases SET state = 'live' WHERE id IN (
    SELECT ranked.id FROM (
        SELECT r.id,
            ROW_NUMBER() OVER (PARTITION BY r.project_id, r.environment ORDER BY r.name DESC) AS age
        FROM releases r
    ) ranked WHERE ranked.age = 1);
INSERT INTO release_servers (release_id, server_id, present, live)
SELECT r.id, s.id, TRUE, CASE WHEN r.state = 'live' THEN TRUE ELSE FALSE END
FROM releases r
JOIN servers s ON s.project_id = r.project_id AND s.environment = r.environment
    AND s.receives_code_deployments
WHERE r.state <> 'purged';
UPDATE deployments SET release_id = (SELECT r.id FROM releases r WHERE r.deployment_id = deployments.id)
WHERE kind = 'deploy' AND release_name IS NOT NULL;

ALTER TABLE projects ADD COLUMN health_gate BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE projects ADD COLUMN health_gate_seconds BIGINT NOT NULL DEFAULT 60;
