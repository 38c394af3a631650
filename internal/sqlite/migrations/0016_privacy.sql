-- Consent and the patient's rights (issue 13 item 8).
-- consents: each acceptance of a version of the privacy notice, append-only.
-- binding_removals: each binding removed (by the patient, by closing the
-- account, by the retention purge), with when it was made, so a removed
-- binding still counts against the binding rate and the history says who
-- was bound when. accounts.closed_ms: a closed account (its phone erased and
-- its phone index a tombstone). patients.purged_ms: the personal fields were
-- erased by the retention purge; the ID type and blind index stay.
CREATE TABLE consents (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	version    TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 32),
	lang       TEXT NOT NULL CHECK (lang IN ('zh-CN', 'vi', 'en')),
	at_ms      INTEGER NOT NULL
);
CREATE INDEX consents_account ON consents (account_id, id);
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN
	SELECT RAISE(ABORT, 'consents are append-only');
END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN
	SELECT RAISE(ABORT, 'consents are append-only');
END;

CREATE TABLE binding_removals (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	patient_id INTEGER NOT NULL REFERENCES patients (id),
	bound_ms   INTEGER NOT NULL,
	removed_ms INTEGER NOT NULL,
	reason     TEXT NOT NULL CHECK (reason IN ('removed', 'account_closed', 'retention'))
);
CREATE INDEX binding_removals_patient ON binding_removals (patient_id, removed_ms);
CREATE INDEX binding_removals_account ON binding_removals (account_id, bound_ms);
CREATE TRIGGER binding_removals_no_update BEFORE UPDATE ON binding_removals
BEGIN
	SELECT RAISE(ABORT, 'binding removals are append-only');
END;
CREATE TRIGGER binding_removals_no_delete BEFORE DELETE ON binding_removals
BEGIN
	SELECT RAISE(ABORT, 'binding removals are append-only');
END;

ALTER TABLE accounts ADD COLUMN closed_ms INTEGER;
ALTER TABLE patients ADD COLUMN purged_ms INTEGER;
