-- The secret provider web hooks are verified with (sealed with the master key).
ALTER TABLE projects ADD COLUMN webhook_secret_sealed TEXT;
