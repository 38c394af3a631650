-- Staff accounts with a second factor (issue 12, items 1-3). The TOTP
-- secret is sealed with the vault like the other secrets; recovery codes
-- are stored as keyed hashes and never deleted, only spent or retired; a
-- staff session records when it was last seen and when its second factor
-- was last checked, so that it can expire when idle and ask again before a
-- sensitive action.
ALTER TABLE staff ADD COLUMN totp_sealed BLOB;
ALTER TABLE staff ADD COLUMN totp_pending_sealed BLOB;
ALTER TABLE staff ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN disabled_ms INTEGER;
ALTER TABLE staff ADD COLUMN locked_ms INTEGER;
ALTER TABLE staff ADD COLUMN password_changed_ms INTEGER;

-- A TOTP step, once used, is never used again: the last step only grows,
-- even across a reset of the second factor.
CREATE TRIGGER staff_totp_step BEFORE UPDATE OF totp_last_step ON staff
WHEN NEW.totp_last_step < OLD.totp_last_step
BEGIN
	SELECT RAISE(ABORT, 'a TOTP step is used once');
END;

CREATE TABLE staff_recovery_codes (
	id         INTEGER PRIMARY KEY,
	staff_id   INTEGER NOT NULL REFERENCES staff (id),
	hash       BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	created_ms INTEGER NOT NULL,
	used_ms    INTEGER
);
CREATE INDEX staff_recovery_codes_staff ON staff_recovery_codes (staff_id);
CREATE TRIGGER staff_recovery_codes_update BEFORE UPDATE ON staff_recovery_codes
WHEN NEW.hash <> OLD.hash OR NEW.staff_id <> OLD.staff_id OR NEW.created_ms <> OLD.created_ms
	OR (OLD.used_ms IS NOT NULL AND NEW.used_ms IS NOT OLD.used_ms)
BEGIN
	SELECT RAISE(ABORT, 'a recovery code is used once');
END;
CREATE TRIGGER staff_recovery_codes_delete BEFORE DELETE ON staff_recovery_codes
BEGIN
	SELECT RAISE(ABORT, 'recovery codes are kept');
END;

CREATE TABLE staff_sessions (
	token_hash   BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
	staff_id     INTEGER NOT NULL REFERENCES staff (id),
	created_ms   INTEGER NOT NULL,
	last_seen_ms INTEGER NOT NULL,
	factor_ms    INTEGER,
	ended_ms     INTEGER
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id) WHERE ended_ms IS NULL;
-- An ended session never comes back; times only move forward.
CREATE TRIGGER staff_sessions_update BEFORE UPDATE ON staff_sessions
WHEN NEW.token_hash <> OLD.token_hash OR NEW.staff_id <> OLD.staff_id OR NEW.created_ms <> OLD.created_ms
	OR NEW.last_seen_ms < OLD.last_seen_ms OR coalesce(NEW.factor_ms, 0) < coalesce(OLD.factor_ms, 0)
	OR (OLD.ended_ms IS NOT NULL AND NEW.ended_ms IS NOT OLD.ended_ms)
BEGIN
	SELECT RAISE(ABORT, 'a staff session ends once and its times only move forward');
END;
