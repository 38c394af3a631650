-- Risk signals that act (issue 17), the twin of SQLite's 0034. The online
-- role has SELECT and INSERT on risk_accounts and draw_entries, no UPDATE:
-- a decision is replaced only through put_risk_account, which keeps the
-- earliest time each action was reached, and a held draw entry is released
-- only through release_held_entries, which turns held off (never on) for
-- one account's entries whose entry window is still open and whose draw
-- has not run.
CREATE TABLE risk_accounts (
	account_id         bigint PRIMARY KEY REFERENCES accounts (id),
	action             text NOT NULL CHECK (action IN ('allow', 'challenge', 'limit', 'hold', 'block')),
	level              int NOT NULL CHECK (level = CASE action WHEN 'allow' THEN 0 WHEN 'challenge' THEN 1
		WHEN 'limit' THEN 2 WHEN 'hold' THEN 3 ELSE 4 END),
	score              int NOT NULL CHECK (score >= 0),
	reasons            jsonb NOT NULL DEFAULT '[]',
	keys               jsonb NOT NULL DEFAULT '[]',
	reviewed           boolean NOT NULL DEFAULT false,
	since_challenge_ms bigint,
	since_limit_ms     bigint,
	since_hold_ms      bigint,
	since_block_ms     bigint,
	updated_ms         bigint NOT NULL
);
CREATE INDEX risk_accounts_worst ON risk_accounts (level, updated_ms);
-- The monitor replays the last weeks' events at start (RiskEventStart).
CREATE INDEX risk_events_at ON risk_events (at_ms);

ALTER TABLE draw_entries ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX draw_entries_held ON draw_entries (account_id) WHERE held;

CREATE FUNCTION put_risk_account(p_account bigint, p_action text, p_score int, p_reasons jsonb, p_keys jsonb, p_reviewed boolean,
	p_challenge bigint, p_limit bigint, p_hold bigint, p_block bigint, p_updated bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (INSERT INTO risk_accounts AS r (account_id, action, level, score, reasons, keys, reviewed,
			since_challenge_ms, since_limit_ms, since_hold_ms, since_block_ms, updated_ms)
		VALUES (p_account, p_action, CASE p_action WHEN 'allow' THEN 0 WHEN 'challenge' THEN 1 WHEN 'limit' THEN 2
			WHEN 'hold' THEN 3 WHEN 'block' THEN 4 END, p_score, p_reasons, p_keys, p_reviewed,
			p_challenge, p_limit, p_hold, p_block, p_updated)
		ON CONFLICT (account_id) DO UPDATE SET action = excluded.action, level = excluded.level, score = excluded.score,
			reasons = excluded.reasons, keys = excluded.keys, reviewed = excluded.reviewed,
			since_challenge_ms = least(r.since_challenge_ms, excluded.since_challenge_ms),
			since_limit_ms = least(r.since_limit_ms, excluded.since_limit_ms),
			since_hold_ms = least(r.since_hold_ms, excluded.since_hold_ms),
			since_block_ms = least(r.since_block_ms, excluded.since_block_ms),
			updated_ms = excluded.updated_ms
		RETURNING 1)
	SELECT count(*) FROM u
$$;

CREATE FUNCTION release_held_entries(p_account bigint, p_now bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE draw_entries e SET held = false
		FROM releases r
		WHERE e.account_id = p_account AND e.held AND r.session_id = e.session_id AND r.entry_closes_ms > p_now
		AND NOT EXISTS (SELECT 1 FROM draw_runs d WHERE d.session_id = e.session_id)
		RETURNING 1)
	SELECT count(*) FROM u
$$;
