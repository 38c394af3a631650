-- Bearer tokens revoked before they expire (a logout). Every node keeps the
-- unexpired ones in memory, read from here, so that its front door refuses a
-- revoked token without a database read per request.
CREATE TABLE revoked_tokens (
	hash       BLOB PRIMARY KEY,
	expires_ms INTEGER NOT NULL,
	revoked_ms INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_revoked_ms ON revoked_tokens (revoked_ms);
