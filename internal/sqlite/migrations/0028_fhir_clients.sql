-- SMART Backend Services for the FHIR facade (issue 16, item 3). A system
-- client is registered by an admin with its public JWK set and the scopes
-- it may be granted; it gets short-lived access tokens by signing an
-- assertion. Rows are only added: revoking a client adds a row.
CREATE TABLE fhir_clients (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	jwks       TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- space-separated
	created_ms INTEGER NOT NULL,
	CHECK (length(id) > 0 AND length(name) > 0 AND length(jwks) > 0)
);
-- One revocation per client, for ever.
CREATE TABLE fhir_client_revocations (
	client_id  TEXT PRIMARY KEY REFERENCES fhir_clients (id),
	revoked_ms INTEGER NOT NULL
);
-- The assertions' jti each client has used, kept until the assertion
-- expires: the primary key refuses a replay.
CREATE TABLE fhir_assertions (
	client_id  TEXT NOT NULL REFERENCES fhir_clients (id),
	jti        TEXT NOT NULL,
	expires_ms INTEGER NOT NULL,
	PRIMARY KEY (client_id, jti)
);
CREATE INDEX fhir_assertions_expires ON fhir_assertions (expires_ms);
-- Access tokens, as SHA-256 hashes, with the scopes granted.
CREATE TABLE fhir_tokens (
	hash       BLOB PRIMARY KEY,
	client_id  TEXT NOT NULL REFERENCES fhir_clients (id),
	scopes     TEXT NOT NULL,
	expires_ms INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	CHECK (length(hash) = 32 AND expires_ms > created_ms)
);
