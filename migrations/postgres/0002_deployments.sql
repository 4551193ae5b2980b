-- The deployment engine: pinned host keys and connection checks, per-project deploy keys and
-- step timeouts, and what a deployment asked for, where it stands and who runs it.

ALTER TABLE servers ADD COLUMN host_key TEXT;
ALTER TABLE servers ADD COLUMN connection_error TEXT;
ALTER TABLE servers ADD COLUMN tools TEXT;

ALTER TABLE projects ADD COLUMN deploy_key_public TEXT;
ALTER TABLE projects ADD COLUMN deploy_key_sealed TEXT;
ALTER TABLE projects ADD COLUMN step_timeout_seconds BIGINT NOT NULL DEFAULT 600;

ALTER TABLE deployments ADD COLUMN requested_from TEXT NOT NULL DEFAULT 'branch';
ALTER TABLE deployments ADD COLUMN requested_ref TEXT;
ALTER TABLE deployments ADD COLUMN release_name TEXT;
ALTER TABLE deployments ADD COLUMN error TEXT;
ALTER TABLE deployments ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deployments ADD COLUMN lease_owner TEXT;
ALTER TABLE deployments ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX deployments_status ON deployments(status, project_id);
-- At most one pending and one running deployment per project, whichever node asks.
CREATE UNIQUE INDEX deployments_one_pending ON deployments(project_id) WHERE status = 'pending';
CREATE UNIQUE INDEX deployments_one_running ON deployments(project_id) WHERE status = 'running';
