-- Binding proves identity (issue 13, item 1).
-- binding_events keeps every binding and unbinding for good. The window
-- limits count the bindings made from here, so unbinding (which deletes the
-- bindings row) gives an account or a patient no binding back.
CREATE TABLE binding_events (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	patient_id INTEGER NOT NULL REFERENCES patients (id),
	kind       TEXT NOT NULL CHECK (kind IN ('bind', 'unbind')),
	at_ms      INTEGER NOT NULL
);
CREATE INDEX binding_events_account ON binding_events (account_id, at_ms);
CREATE INDEX binding_events_patient ON binding_events (patient_id, at_ms);
INSERT INTO binding_events (account_id, patient_id, kind, at_ms) SELECT account_id, patient_id, 'bind', created_ms FROM bindings;
-- binding_codes are the one-time codes sent to an identity's phone on
-- record when an account asks to bind an identity that is already known.
CREATE TABLE binding_codes (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	patient_id INTEGER NOT NULL REFERENCES patients (id),
	code_hash  BLOB NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	used       INTEGER NOT NULL DEFAULT 0,
	expires_ms INTEGER NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE INDEX binding_codes_account ON binding_codes (account_id, patient_id, created_ms);
CREATE INDEX binding_codes_patient ON binding_codes (patient_id, created_ms);
