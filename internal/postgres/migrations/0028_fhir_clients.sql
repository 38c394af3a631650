-- SMART Backend Services for the FHIR facade (issue 16, item 3), the twin
-- of SQLite's 0028. A system client is registered by an admin with its
-- public JWK set and the scopes it may be granted; it gets short-lived
-- access tokens by signing an assertion. The online role has INSERT and
-- SELECT: revoking a client adds a row, and forgetting expired assertions
-- goes through the owner's function.
CREATE TABLE fhir_clients (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	jwks       text NOT NULL,
	scopes     text NOT NULL, -- space-separated
	created_ms bigint NOT NULL,
	CHECK (length(id) > 0 AND length(name) > 0 AND length(jwks) > 0)
);
CREATE TABLE fhir_client_revocations (
	client_id  text PRIMARY KEY REFERENCES fhir_clients (id),
	revoked_ms bigint NOT NULL
);
CREATE TABLE fhir_assertions (
	client_id  text NOT NULL REFERENCES fhir_clients (id),
	jti        text NOT NULL,
	expires_ms bigint NOT NULL,
	PRIMARY KEY (client_id, jti)
);
CREATE INDEX fhir_assertions_expires ON fhir_assertions (expires_ms);
CREATE TABLE fhir_tokens (
	hash       bytea PRIMARY KEY,
	client_id  text NOT NULL REFERENCES fhir_clients (id),
	scopes     text NOT NULL,
	expires_ms bigint NOT NULL,
	created_ms bigint NOT NULL,
	CHECK (length(hash) = 32 AND expires_ms > created_ms)
);
CREATE FUNCTION purge_fhir_assertions(p_now bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	DELETE FROM fhir_assertions WHERE expires_ms < p_now
$$;
