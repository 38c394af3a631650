package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// fhirClientKind is the actor kind of a system client of the FHIR facade
// (SMART Backend Services); Actor.Client names it.
const fhirClientKind storage.TokenKind = "fhir-client"

// FHIRTokenTTL is how long a FHIR client's access token lives: short, so
// that a revoked client or a leaked token is stopped soon without a
// revocation list.
const FHIRTokenTTL = 5 * time.Minute

// FHIRClientActor is the actor of a FHIR client's request.
func FHIRClientActor(clientID, requestID string) Actor {
	return Actor{Kind: fhirClientKind, Client: clientID, RequestID: requestID}
}

// requireStaffAdmin lets through the command line (System) and a staff
// account that may manage staff: registering a system is an admin's act.
func (s *Service) requireStaffAdmin(a Actor) error {
	if a.Kind == systemKind {
		return nil
	}
	return s.requireStaff(a, fairslot.ActStaff)
}

// AddFHIRClient registers a system client with its public JWK set and the
// scopes it may be granted (both checked by the caller, the FHIR package,
// which knows JOSE and SMART), giving it a random client_id.
func (s *Service) AddFHIRClient(ctx context.Context, a Actor, name string, jwks []byte, scopes []string) (storage.FHIRClient, error) {
	if err := s.requireStaffAdmin(a); err != nil {
		return storage.FHIRClient{}, err
	}
	if name == "" || len(name) > 200 {
		return storage.FHIRClient{}, fairslot.Errorf(fairslot.Invalid, "a FHIR client needs a name of at most 200 bytes")
	}
	c := storage.FHIRClient{ID: randomID(), Name: name, JWKS: jwks, Scopes: scopes, CreatedAt: s.now()}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.CreateFHIRClient(ctx, c); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "fhir.client.add", "fhir-client:"+c.ID, map[string]string{"name": name, "scopes": joinScopes(scopes)})
	})
	return c, err
}

// FHIRClients lists the registered clients, revoked ones too.
func (s *Service) FHIRClients(ctx context.Context, a Actor) ([]storage.FHIRClient, error) {
	if err := s.requireStaffAdmin(a); err != nil {
		return nil, err
	}
	var out []storage.FHIRClient
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) { out, err = tx.ListFHIRClients(ctx); return err })
	return out, err
}

// RevokeFHIRClient stops a client: it gets no more tokens, and its live
// tokens stop working at once.
func (s *Service) RevokeFHIRClient(ctx context.Context, a Actor, id string) error {
	if err := s.requireStaffAdmin(a); err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.RevokeFHIRClient(ctx, id, s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "fhir.client.revoke", "fhir-client:"+id, nil)
	})
}

// FHIRClient returns a client for checking its assertion: NotFound if
// there is none.
func (s *Service) FHIRClient(ctx context.Context, id string) (storage.FHIRClient, error) {
	var c storage.FHIRClient
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) { c, err = tx.FHIRClient(ctx, id); return err })
	return c, err
}

// GrantFHIRToken issues an access token to a client whose assertion the
// caller has verified, in one transaction with the assertion's jti (a
// Conflict if it was used before) and the audit record. scopes are those
// granted, already cut to the client's.
func (s *Service) GrantFHIRToken(ctx context.Context, a Actor, jti string, assertionExpires time.Time, scopes []string) (token string, expires time.Time, err error) {
	now := s.now()
	token = randomID() + randomID()
	sum := sha256.Sum256([]byte(token))
	expires = now.Add(FHIRTokenTTL)
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		c, err := tx.FHIRClient(ctx, a.Client)
		if err != nil {
			return err
		}
		if !c.RevokedAt.IsZero() {
			return fairslot.Errorf(fairslot.Unauthorized, "this client is revoked")
		}
		if err := tx.UseFHIRAssertion(ctx, c.ID, jti, assertionExpires, now); err != nil {
			return err
		}
		if err := tx.CreateFHIRToken(ctx, storage.FHIRToken{Hash: sum[:], ClientID: c.ID, Scopes: scopes, ExpiresAt: expires, CreatedAt: now}); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "fhir.token", "fhir-client:"+c.ID, map[string]string{"scopes": joinScopes(scopes)})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// AuthenticateFHIR resolves a FHIR client's access token to its live
// record: Unauthorized if it is unknown, expired or its client revoked.
func (s *Service) AuthenticateFHIR(ctx context.Context, token string) (storage.FHIRToken, error) {
	sum := sha256.Sum256([]byte(token))
	var k storage.FHIRToken
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) { k, err = tx.FHIRToken(ctx, sum[:], s.now()); return err })
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return k, fairslot.Errorf(fairslot.Unauthorized, "invalid or expired access token; get a new one from the token endpoint")
	}
	return k, err
}

// AuditFHIR appends the audit record of one FHIR interaction: who, what
// and how it ended. Reads are audited too (issue 16: every FHIR call), in
// a transaction of their own after the response is decided.
func (s *Service) AuditFHIR(ctx context.Context, a Actor, subject string, detail map[string]string) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return s.record(ctx, tx, a, "fhir.call", subject, detail) })
}

// AuditFHIRTokenRefused appends the audit record of a refused request to
// the FHIR token endpoint, or of a summary of such refusals: the caller
// (the FHIR package, which knows OAuth) names the claimed client only when
// well-formed, bounds how many it records under a flood, and never passes
// the assertion.
func (s *Service) AuditFHIRTokenRefused(ctx context.Context, a Actor, subject string, detail map[string]string) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return s.record(ctx, tx, a, "fhir.token_refused", subject, detail) })
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }
