-- Patients' refresh tokens (issue 12, item 10): access tokens are short and a
-- refresh token, rotated on every use, gets the next one. The tokens of one
-- login are a family; a spent token presented again revokes the family.
-- Stored as SHA-256 hashes, with the hash of the access token issued
-- together, so that revoking a family revokes its access tokens too.
CREATE TABLE refresh_tokens (
	id                INTEGER PRIMARY KEY,
	hash              BLOB NOT NULL UNIQUE,
	family            TEXT NOT NULL,
	account_id        INTEGER NOT NULL REFERENCES accounts (id),
	access_hash       BLOB NOT NULL,
	access_expires_ms INTEGER NOT NULL,
	expires_ms        INTEGER NOT NULL,
	created_ms        INTEGER NOT NULL,
	spent_ms          INTEGER,
	revoked_ms        INTEGER,
	CHECK (expires_ms > created_ms AND length(hash) = 32 AND length(access_hash) = 32)
);
-- At most one live token per family: a refresh spends the old one before
-- it adds the new one, and two refreshes of one token cannot both succeed.
CREATE UNIQUE INDEX refresh_tokens_live ON refresh_tokens (family) WHERE spent_ms IS NULL AND revoked_ms IS NULL;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_access ON refresh_tokens (access_hash);

-- A family belongs to one account.
CREATE TRIGGER refresh_tokens_insert BEFORE INSERT ON refresh_tokens
WHEN NEW.spent_ms IS NOT NULL OR NEW.revoked_ms IS NOT NULL
	OR EXISTS (SELECT 1 FROM refresh_tokens WHERE family = NEW.family AND account_id <> NEW.account_id)
	OR EXISTS (SELECT 1 FROM refresh_tokens WHERE family = NEW.family AND revoked_ms IS NOT NULL)
BEGIN
	SELECT RAISE(ABORT, 'a refresh token starts live, in a live family of one account');
END;

-- Only spent and revoked are ever set, once each; nothing else changes.
CREATE TRIGGER refresh_tokens_update BEFORE UPDATE ON refresh_tokens
WHEN NEW.hash <> OLD.hash OR NEW.family <> OLD.family OR NEW.account_id <> OLD.account_id
	OR NEW.access_hash <> OLD.access_hash OR NEW.access_expires_ms <> OLD.access_expires_ms
	OR NEW.expires_ms <> OLD.expires_ms OR NEW.created_ms <> OLD.created_ms
	OR (OLD.spent_ms IS NOT NULL AND NEW.spent_ms IS NOT OLD.spent_ms)
	OR (OLD.revoked_ms IS NOT NULL AND NEW.revoked_ms IS NOT OLD.revoked_ms)
BEGIN
	SELECT RAISE(ABORT, 'a refresh token is spent or revoked once, and never live again');
END;
