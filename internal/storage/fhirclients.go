package storage

import (
	"context"
	"time"
)

// FHIRClient is a system registered for SMART Backend Services on the FHIR
// facade: it proves who it is with a JWT signed by a key of its public JWK
// set and may be granted at most its scopes.
type FHIRClient struct {
	ID        string // the OAuth client_id: random, given at registration
	Name      string
	JWKS      []byte   // the public JWK set, JSON
	Scopes    []string // e.g. system/Slot.rs
	CreatedAt time.Time
	RevokedAt time.Time // zero while the client may get tokens
}

// FHIRToken is an access token issued to a FHIR client, stored as its
// SHA-256 hash, with the scopes granted.
type FHIRToken struct {
	Hash      []byte
	ClientID  string
	Scopes    []string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// FHIRClients are the storage of the FHIR facade's system clients, the
// assertions they have used and the tokens they were issued. Rows are only
// added: a revocation is a row of its own, and the database refuses a
// second revocation and an assertion (client, jti) used twice.
type FHIRClients interface {
	// CreateFHIRClient stores a client: a Conflict if its ID exists.
	CreateFHIRClient(ctx context.Context, c FHIRClient) error
	// FHIRClient returns a client, revoked or not: NotFound if none.
	FHIRClient(ctx context.Context, id string) (FHIRClient, error)
	// ListFHIRClients lists every client, revoked ones too, oldest first.
	ListFHIRClients(ctx context.Context) ([]FHIRClient, error)
	// RevokeFHIRClient revokes a client at now: NotFound if there is none,
	// a Conflict if it is already revoked. Its tokens stop at once.
	RevokeFHIRClient(ctx context.Context, id string, now time.Time) error
	// UseFHIRAssertion records that a client used an assertion's jti, kept
	// until the assertion's expiry: a Conflict if it was used before (a
	// replay). Assertions expired before now may be forgotten.
	UseFHIRAssertion(ctx context.Context, clientID, jti string, expires, now time.Time) error
	// CreateFHIRToken stores an access token.
	CreateFHIRToken(ctx context.Context, t FHIRToken) error
	// FHIRToken returns the token with this hash that is still valid at
	// now, of a client not revoked: NotFound otherwise.
	FHIRToken(ctx context.Context, hash []byte, now time.Time) (FHIRToken, error)
}
