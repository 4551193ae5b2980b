-- Why a channel's latest delivery failed; cleared by the next successful delivery.
ALTER TABLE notifications ADD COLUMN last_error TEXT;
ALTER TABLE notifications ADD COLUMN last_error_at BIGINT;

-- How many check-ins a heartbeat has received (kept for the check-in benchmark's proof of
-- durability and for operators).
ALTER TABLE heartbeats ADD COLUMN check_ins BIGINT NOT NULL DEFAULT 0;

-- Whether the project's monitor was failing at its last transition: changed with a compare
-- and swap, so that each transition notifies once however many nodes check.
ALTER TABLE projects ADD COLUMN monitor_failing BOOLEAN NOT NULL DEFAULT FALSE;

-- Messages for notification channels, stored before they are sent.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_notification ON outbox(notification_id);

-- The latest health check of each project's monitor from each region.
CREATE TABLE health_checks (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status BIGINT,
    response_ms BIGINT,
    error TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, region)
);
