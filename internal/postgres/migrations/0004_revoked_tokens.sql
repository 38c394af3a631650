-- Bearer tokens revoked before they expire (a logout). Every node keeps the
-- unexpired ones in memory, read from here, so that its front door refuses a
-- revoked token without a database read per request. Insert-only: the
-- online role needs nothing more than it has.
SET search_path = fairslot;

CREATE TABLE revoked_tokens (
	hash       bytea PRIMARY KEY,
	expires_ms bigint NOT NULL,
	revoked_ms bigint NOT NULL
);
CREATE INDEX revoked_tokens_revoked_ms ON revoked_tokens (revoked_ms);
