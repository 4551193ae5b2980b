-- Facts about the installation as a whole. `key_check` is a value sealed with the master key,
-- so that a node started with another key refuses to start instead of failing to unseal.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
