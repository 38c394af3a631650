-- Risk signals that act (issue 17). risk_accounts holds each flagged
-- account's current decision: the action, the score, its reasons (English
-- and message keys, JSON arrays, already masked) and when each action was
-- first reached, which a later write never moves (the upsert keeps the
-- earliest). A draw entry made while its account is held for review is
-- stored held: the draw leaves it out until a reviewer releases it while the
-- entry window is still open; only that release turns held off.
CREATE TABLE risk_accounts (
	account_id         INTEGER PRIMARY KEY REFERENCES accounts (id),
	action             TEXT NOT NULL CHECK (action IN ('allow', 'challenge', 'limit', 'hold', 'block')),
	level              INTEGER NOT NULL CHECK (level = CASE action WHEN 'allow' THEN 0 WHEN 'challenge' THEN 1
		WHEN 'limit' THEN 2 WHEN 'hold' THEN 3 ELSE 4 END),
	score              INTEGER NOT NULL CHECK (score >= 0),
	reasons            TEXT NOT NULL DEFAULT '[]',
	keys               TEXT NOT NULL DEFAULT '[]',
	reviewed           INTEGER NOT NULL DEFAULT 0 CHECK (reviewed IN (0, 1)),
	since_challenge_ms INTEGER,
	since_limit_ms     INTEGER,
	since_hold_ms      INTEGER,
	since_block_ms     INTEGER,
	updated_ms         INTEGER NOT NULL
);
CREATE INDEX risk_accounts_worst ON risk_accounts (level, updated_ms);
-- The monitor replays the last weeks' events at start (RiskEventStart).
CREATE INDEX risk_events_at ON risk_events (at_ms);

ALTER TABLE draw_entries ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
CREATE INDEX draw_entries_held ON draw_entries (account_id) WHERE held = 1;
-- Held goes only from on to off: nothing puts a stored entry on hold again
-- (that would take a place from a patient the draw may already count).
CREATE TRIGGER draw_entries_held_only_off BEFORE UPDATE OF held ON draw_entries
WHEN NEW.held = 1 AND OLD.held = 0
BEGIN
	SELECT RAISE(ABORT, 'a draw entry is never put on hold after it was stored');
END;
