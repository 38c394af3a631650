package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const fhirClientQuery = `SELECT c.id, c.name, c.jwks, c.scopes, c.created_ms, r.revoked_ms
	FROM fhir_clients c LEFT JOIN fhir_client_revocations r ON r.client_id = c.id`

func (t *tx) scanFHIRClient(r interface{ Scan(...any) error }) (storage.FHIRClient, error) {
	var c storage.FHIRClient
	var jwks, scopes string
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(&c.ID, &c.Name, &jwks, &scopes, &created, &revoked); err != nil {
		return c, err
	}
	c.JWKS, c.Scopes, c.CreatedAt, c.RevokedAt = []byte(jwks), strings.Fields(scopes), t.at(created), t.atNull(revoked)
	return c, nil
}

func (t *tx) CreateFHIRClient(ctx context.Context, c storage.FHIRClient) error {
	_, err := t.exec(ctx, `INSERT INTO fhir_clients (id, name, jwks, scopes, created_ms) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Name, string(c.JWKS), strings.Join(c.Scopes, " "), ms(c.CreatedAt))
	if isUnique(err, "fhir_clients.id") {
		return fairslot.Errorf(fairslot.Conflict, "a FHIR client with this id exists")
	}
	return err
}

func (t *tx) FHIRClient(ctx context.Context, id string) (storage.FHIRClient, error) {
	c, err := t.scanFHIRClient(t.queryRow(ctx, fhirClientQuery+` WHERE c.id = ?`, id))
	if err == sql.ErrNoRows {
		return c, fairslot.Errorf(fairslot.NotFound, "FHIR client not found")
	}
	return c, err
}

func (t *tx) ListFHIRClients(ctx context.Context) ([]storage.FHIRClient, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.FHIRClient, error) { return t.scanFHIRClient(r) },
		fhirClientQuery+` ORDER BY c.created_ms, c.id`)
}

func (t *tx) RevokeFHIRClient(ctx context.Context, id string, now time.Time) error {
	if _, err := t.FHIRClient(ctx, id); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO fhir_client_revocations (client_id, revoked_ms) VALUES (?, ?)`, id, ms(now))
	if isUnique(err, "fhir_client_revocations.client_id") {
		return fairslot.Errorf(fairslot.Conflict, "this FHIR client is already revoked")
	}
	return err
}

func (t *tx) UseFHIRAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) error {
	if _, err := t.exec(ctx, `DELETE FROM fhir_assertions WHERE expires_ms < ?`, ms(now)); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO fhir_assertions (client_id, jti, expires_ms) VALUES (?, ?, ?)`, clientID, jti, ms(expires))
	if isUnique(err, "fhir_assertions.") {
		return fairslot.Errorf(fairslot.Conflict, "this client assertion was used before")
	}
	return err
}

func (t *tx) CreateFHIRToken(ctx context.Context, k storage.FHIRToken) error {
	_, err := t.exec(ctx, `INSERT INTO fhir_tokens (hash, client_id, scopes, expires_ms, created_ms) VALUES (?, ?, ?, ?, ?)`,
		k.Hash, k.ClientID, strings.Join(k.Scopes, " "), ms(k.ExpiresAt), ms(k.CreatedAt))
	return err
}

func (t *tx) FHIRToken(ctx context.Context, hash []byte, now time.Time) (storage.FHIRToken, error) {
	k := storage.FHIRToken{Hash: hash}
	var scopes string
	var exp, created int64
	err := one(t.queryRow(ctx, `SELECT k.client_id, k.scopes, k.expires_ms, k.created_ms FROM fhir_tokens k
		WHERE k.hash = ? AND k.expires_ms > ?
		AND NOT EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = k.client_id)`, hash, ms(now)),
		"FHIR token", &k.ClientID, &scopes, &exp, &created)
	k.Scopes, k.ExpiresAt, k.CreatedAt = strings.Fields(scopes), t.at(exp), t.at(created)
	return k, err
}
