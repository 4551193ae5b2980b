-- The node that ran a deployment: its remote pidfiles are named after it. `lease_owner`
-- changes when another node takes an interrupted deployment over; `runner` does not.
ALTER TABLE deployments ADD COLUMN runner TEXT;
UPDATE deployments SET runner = lease_owner;
