-- Delta releases: a project may ship only what changed since the commit each server's source
-- copy holds (recorded here after every clone); off, every release ships the whole tree.
ALTER TABLE projects ADD COLUMN delta_releases BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE servers ADD COLUMN source_commit TEXT;
