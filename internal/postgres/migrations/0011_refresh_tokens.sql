-- Patients' refresh tokens (issue 12, item 10), the PostgreSQL twin of
-- SQLite's 0009: access tokens are short and a refresh token, rotated on
-- every use, gets the next one. The tokens of one login are a family; a spent
-- token presented again revokes the family. Stored as SHA-256 hashes, with
-- the hash of the access token issued together, so that revoking a family
-- revokes its access tokens too. The online role inserts and reads; it
-- spends and revokes only through spend_refresh_token and
-- revoke_refresh_family, and the guard holds whoever writes.
SET search_path = fairslot;

CREATE TABLE refresh_tokens (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash              bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
	family            text NOT NULL,
	account_id        bigint NOT NULL REFERENCES accounts (id),
	access_hash       bytea NOT NULL CHECK (length(access_hash) = 32),
	access_expires_ms bigint NOT NULL,
	expires_ms        bigint NOT NULL,
	created_ms        bigint NOT NULL,
	spent_ms          bigint,
	revoked_ms        bigint,
	CHECK (expires_ms > created_ms)
);
-- At most one live token per family: a refresh spends the old one before
-- it adds the new one, and two refreshes of one token cannot both succeed.
CREATE UNIQUE INDEX refresh_tokens_live ON refresh_tokens (family) WHERE spent_ms IS NULL AND revoked_ms IS NULL;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_access ON refresh_tokens (access_hash);

-- A token starts live, in a live family of one account; afterwards only
-- spent and revoked are set, once each; rows are kept.
CREATE FUNCTION refresh_tokens_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'refresh tokens are kept' USING ERRCODE = 'FSR01';
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.spent_ms IS NOT NULL OR NEW.revoked_ms IS NOT NULL
			OR EXISTS (SELECT 1 FROM refresh_tokens WHERE family = NEW.family AND (account_id <> NEW.account_id OR revoked_ms IS NOT NULL)) THEN
			RAISE EXCEPTION 'a refresh token starts live, in a live family of one account' USING ERRCODE = 'FSR01';
		END IF;
		RETURN NEW;
	END IF;
	IF NEW.hash <> OLD.hash OR NEW.family <> OLD.family OR NEW.account_id <> OLD.account_id
		OR NEW.access_hash <> OLD.access_hash OR NEW.access_expires_ms <> OLD.access_expires_ms
		OR NEW.expires_ms <> OLD.expires_ms OR NEW.created_ms <> OLD.created_ms
		OR (OLD.spent_ms IS NOT NULL AND NEW.spent_ms IS DISTINCT FROM OLD.spent_ms)
		OR (OLD.revoked_ms IS NOT NULL AND NEW.revoked_ms IS DISTINCT FROM OLD.revoked_ms) THEN
		RAISE EXCEPTION 'a refresh token is spent or revoked once, and never live again' USING ERRCODE = 'FSR01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER refresh_tokens_guard BEFORE INSERT OR UPDATE OR DELETE ON refresh_tokens
	FOR EACH ROW EXECUTE FUNCTION refresh_tokens_guard();

CREATE FUNCTION spend_refresh_token(p_id bigint, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH spent AS (
		UPDATE refresh_tokens SET spent_ms = p_at WHERE id = p_id AND spent_ms IS NULL AND revoked_ms IS NULL RETURNING 1)
	SELECT count(*) FROM spent
$$;
CREATE FUNCTION revoke_refresh_family(p_family text, p_at bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	UPDATE refresh_tokens SET revoked_ms = p_at WHERE family = p_family AND revoked_ms IS NULL
$$;
