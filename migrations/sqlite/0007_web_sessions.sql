-- The dashboard: users may sign in with a password (an Argon2id hash is stored), and each
-- sign-in is a session kept by the SHA-256 of its cookie, never the cookie itself.

ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Signed in with an API token: the session has that token's scopes and ends with it.
    token_id BIGINT REFERENCES api_tokens(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
