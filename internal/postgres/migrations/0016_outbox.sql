-- The notification outbox's dispatcher (issue 13, item 3), the twin of
-- SQLite's 0014: each message is pending until sent or dead; attempts and
-- next_attempt_ms are its retries with backoff. Rows written before were
-- handed to the notifier by their request: never sent again. The online
-- role has no UPDATE on outbox: it records an attempt and a message's end
-- through the two functions below, each changing one pending row only
-- (compare-and-set on attempts), never the sealed recipient or body.
-- login_codes.requester (item 5): a keyed hash of the device and address
-- prefix that asked for the code; only its wrong guesses use up the code.
ALTER TABLE outbox ADD COLUMN status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
	ADD COLUMN attempts int NOT NULL DEFAULT 0, ADD COLUMN next_attempt_ms bigint NOT NULL DEFAULT 0;
UPDATE outbox SET status = 'sent', sent_ms = coalesce(sent_ms, created_ms);
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE status = 'pending';
ALTER TABLE login_codes ADD COLUMN requester bytea;

CREATE FUNCTION outbox_attempt(p_id bigint, p_attempts int, p_next_ms bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE outbox SET attempts = p_attempts, next_attempt_ms = p_next_ms
		WHERE id = p_id AND status = 'pending' AND attempts = p_attempts - 1 RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION outbox_finish(p_id bigint, p_status text, p_at_ms bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE outbox SET status = p_status, sent_ms = CASE WHEN p_status = 'sent' THEN p_at_ms END
		WHERE id = p_id AND status = 'pending' AND p_status IN ('sent', 'dead') RETURNING 1)
	SELECT count(*) FROM u
$$;
