-- The notification outbox's dispatcher (issue 13, item 3): each message is
-- pending until sent or dead (too many attempts, or refused for good);
-- attempts and next_attempt_ms are its retries with backoff. Before this,
-- each message was handed to the notifier in the request that wrote it:
-- those rows are never sent again.
-- login_codes.requester (item 5) is a keyed hash of the device and address
-- prefix that asked for the code: only its wrong guesses use up the code.
ALTER TABLE outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead'));
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_ms INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET status = 'sent', sent_ms = created_ms WHERE sent_ms IS NULL;
UPDATE outbox SET status = 'sent' WHERE sent_ms IS NOT NULL;
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE status = 'pending';
ALTER TABLE login_codes ADD COLUMN requester BLOB;
