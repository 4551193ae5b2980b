-- Deployment environments (GitLab's model): every project has at least "production"; each
-- server belongs to one environment, and each deployment targets one.

CREATE TABLE environments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    external_url TEXT,
    tier TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT,
    auto_stop_at BIGINT,
    auto_stop_setting TEXT NOT NULL DEFAULT 'always',
    on_stop TEXT,
    delete_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX environments_project ON environments(project_id, id);

ALTER TABLE servers ADD COLUMN environment TEXT NOT NULL DEFAULT 'production';
ALTER TABLE deployments ADD COLUMN environment TEXT NOT NULL DEFAULT 'production';

INSERT INTO environments (project_id, name, slug, tier, state, created_at, updated_at)
SELECT id, 'production', 'production', 'production', 'available', created_at, created_at
FROM projects;

-- Stopping an environment with an on_stop script queues a "stop" run; it must not replace
-- (or be replaced by) the project's waiting deployment.
DROP INDEX deployments_one_pending;
CREATE UNIQUE INDEX deployments_one_pending ON deployments(project_id)
    WHERE status = 'pending' AND requested_from <> 'stop';
