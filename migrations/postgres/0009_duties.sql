-- Periodic work that the nodes on one database share (sweeps, health checks per region,
-- retention): each duty is done by one node per period, the node that moves `due_at` on
-- once it has come (by the database's clock).
CREATE TABLE duties (
    name TEXT PRIMARY KEY,
    due_at BIGINT NOT NULL,
    node TEXT NOT NULL
);
