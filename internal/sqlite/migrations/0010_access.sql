-- Purpose-bound access to personal data (issue 12 items 5 and 8): every
-- full name shown for care, every reveal, every look-up by ID number (found
-- or not) and every export, with its purpose, for the limits and for the
-- patient's "who looked". Rows are kept; only note_sealed may change, when
-- the sealing key rotates (associated data fairslot/access_log/<ref>/note).
CREATE TABLE access_log (
	id          INTEGER PRIMARY KEY,
	ref         TEXT NOT NULL UNIQUE,
	at_ms       INTEGER NOT NULL,
	staff_id    INTEGER NOT NULL REFERENCES staff (id),
	role        TEXT NOT NULL,
	patient_id  INTEGER REFERENCES patients (id),
	session_id  INTEGER REFERENCES sessions (id),
	kind        TEXT NOT NULL CHECK (kind IN ('view', 'reveal', 'lookup', 'export')),
	field       TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL,
	note_sealed BLOB,
	place       TEXT NOT NULL DEFAULT '',
	subject     TEXT NOT NULL DEFAULT '',
	once_key    TEXT UNIQUE
);
CREATE INDEX access_log_patient ON access_log (patient_id, at_ms);
CREATE INDEX access_log_staff ON access_log (staff_id, at_ms);
CREATE TRIGGER access_log_kept BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access records are kept'); END;
CREATE TRIGGER access_log_fixed BEFORE UPDATE ON access_log
	WHEN NEW.id IS NOT OLD.id OR NEW.ref IS NOT OLD.ref OR NEW.at_ms IS NOT OLD.at_ms OR NEW.staff_id IS NOT OLD.staff_id
		OR NEW.role IS NOT OLD.role OR NEW.patient_id IS NOT OLD.patient_id OR NEW.session_id IS NOT OLD.session_id
		OR NEW.kind IS NOT OLD.kind OR NEW.field IS NOT OLD.field OR NEW.reason IS NOT OLD.reason
		OR NEW.place IS NOT OLD.place OR NEW.subject IS NOT OLD.subject OR NEW.once_key IS NOT OLD.once_key
BEGIN SELECT RAISE(ABORT, 'access records change only by re-sealing their note'); END;

-- A staff account that went over the access limits stays locked until
-- security unlocks it.
ALTER TABLE staff ADD COLUMN access_locked_ms INTEGER;

CREATE TABLE security_events (
	id       INTEGER PRIMARY KEY,
	at_ms    INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	staff_id INTEGER NOT NULL,
	detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;
CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;
