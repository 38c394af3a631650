-- Admin edits (issue 14 item 5). A retired doctor gets no new sessions;
-- their sessions stay. Release rules and reserved quotas that admins set
-- per department or doctor override the configuration file's: rows are
-- only added (the latest row for a department or doctor is its rule; a
-- cleared row returns it to the file's), so the table is its own history
-- beside the audit log's before and after.
ALTER TABLE doctors ADD COLUMN retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1));
CREATE TABLE release_rules (
	id                INTEGER PRIMARY KEY,
	department        TEXT NOT NULL DEFAULT '',
	doctor_id         INTEGER NOT NULL DEFAULT 0,
	mode              TEXT NOT NULL CHECK (mode IN ('first_come', 'draw')),
	window_ms         INTEGER NOT NULL CHECK (window_ms >= 0),
	jitter_ms         INTEGER NOT NULL CHECK (jitter_ms >= 0),
	reserved_priority INTEGER NOT NULL CHECK (reserved_priority >= 0),
	reserved_referral INTEGER NOT NULL CHECK (reserved_referral >= 0),
	cleared           INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
	created_ms        INTEGER NOT NULL,
	CHECK (department = '' OR doctor_id = 0)
);
CREATE INDEX release_rules_key ON release_rules (department, doctor_id, id);
CREATE TRIGGER release_rules_no_update BEFORE UPDATE ON release_rules
BEGIN
	SELECT RAISE(ABORT, 'release rules are append-only');
END;
CREATE TRIGGER release_rules_no_delete BEFORE DELETE ON release_rules
BEGIN
	SELECT RAISE(ABORT, 'release rules are append-only');
END;
