-- Risk review (issue 17 item 3): reviewers' decisions on flagged accounts
-- and patients' requests for review. A decision is never changed or
-- removed, only followed by another, so what a reviewer decided and why
-- stays on record beside the audit log. An appeal's text is the patient's
-- own words and may name a condition or a person: it is sealed under its
-- row's ref, like the outbox's bodies, and re-sealed on key rotation.
CREATE TABLE risk_reviews (
	id         INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	action     TEXT NOT NULL CHECK (action IN ('allow', 'limit', 'block')),
	saw        INTEGER NOT NULL CHECK (saw >= 0),
	reason     TEXT NOT NULL CHECK (length(trim(reason)) >= 2),
	staff_id   INTEGER NOT NULL REFERENCES staff (id),
	at_ms      INTEGER NOT NULL
);
CREATE INDEX risk_reviews_account ON risk_reviews (account_id, id);
CREATE TRIGGER risk_reviews_no_update BEFORE UPDATE ON risk_reviews
BEGIN
	SELECT RAISE(ABORT, 'risk reviews are append-only');
END;
CREATE TRIGGER risk_reviews_no_delete BEFORE DELETE ON risk_reviews
BEGIN
	SELECT RAISE(ABORT, 'risk reviews are append-only');
END;

CREATE TABLE risk_appeals (
	id          INTEGER PRIMARY KEY,
	ref         TEXT NOT NULL UNIQUE,
	account_id  INTEGER NOT NULL REFERENCES accounts (id),
	text_sealed BLOB NOT NULL,
	created_ms  INTEGER NOT NULL,
	status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered')),
	answered_ms INTEGER,
	review_id   INTEGER REFERENCES risk_reviews (id),
	CHECK ((status = 'open') = (answered_ms IS NULL AND review_id IS NULL))
);
-- One open appeal per account: a second waits for the answer to the first.
CREATE UNIQUE INDEX risk_appeals_one_open ON risk_appeals (account_id) WHERE status = 'open';
CREATE INDEX risk_appeals_account ON risk_appeals (account_id, id);
-- An appeal moves from open to answered once; its text changes only by
-- re-sealing (a new value under another key); it is never removed.
CREATE TRIGGER risk_appeals_fixed BEFORE UPDATE OF id, ref, account_id, created_ms ON risk_appeals
BEGIN
	SELECT RAISE(ABORT, 'an appeal is fixed once made');
END;
CREATE TRIGGER risk_appeals_answered_once BEFORE UPDATE OF status, answered_ms, review_id ON risk_appeals
WHEN OLD.status <> 'open' OR NEW.status <> 'answered'
BEGIN
	SELECT RAISE(ABORT, 'an appeal moves from open to answered once');
END;
CREATE TRIGGER risk_appeals_kept BEFORE DELETE ON risk_appeals
BEGIN
	SELECT RAISE(ABORT, 'appeals are kept');
END;
