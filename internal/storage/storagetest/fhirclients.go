package storagetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// testFHIRClients: a client is stored and listed with its keys and scopes;
// its id is unique; a jti is refused the second time until it expires; a
// token is found only while valid and its client not revoked; a client is
// revoked once. On PostgreSQL this runs as the online role.
func testFHIRClients(t *testing.T, s storage.Store) {
	c := storage.FHIRClient{ID: "c1", Name: "HIS", JWKS: []byte(`{"keys":[]}`), Scopes: []string{"system/Slot.rs", "system/Patient.r"}, CreatedAt: base}
	update(t, s, func(tx storage.Tx) error { return tx.CreateFHIRClient(ctx, c) })
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.CreateFHIRClient(ctx, c) }); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("a second client with id c1: %v, want a Conflict", err)
	}
	var got []storage.FHIRClient
	if err := s.View(ctx, func(tx storage.Tx) (err error) { got, err = tx.ListFHIRClients(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "c1" || got[0].Name != "HIS" || string(got[0].JWKS) != string(c.JWKS) ||
		!slices.Equal(got[0].Scopes, c.Scopes) || !got[0].CreatedAt.Equal(base) || !got[0].RevokedAt.IsZero() {
		t.Errorf("clients = %+v, want the one stored", got)
	}

	use := func(jti string, exp, now time.Time) error {
		return s.Update(ctx, func(tx storage.Tx) error { return tx.UseFHIRAssertion(ctx, "c1", jti, exp, now) })
	}
	for _, c := range []struct {
		jti      string
		exp, now time.Time
		want     fairslot.Kind
	}{
		{"j1", base.Add(5 * time.Minute), base, ""},
		{"j1", base.Add(5 * time.Minute), base.Add(time.Minute), fairslot.Conflict}, // a replay
		{"j2", base.Add(5 * time.Minute), base.Add(time.Minute), ""},
		{"j1", base.Add(20 * time.Minute), base.Add(10 * time.Minute), ""}, // forgotten once expired: its exp is past, so no replay
	} {
		err := use(c.jti, c.exp, c.now)
		if (err == nil) != (c.want == "") || err != nil && fairslot.ErrorKind(err) != c.want {
			t.Errorf("use %s at %s: %v, want kind %q", c.jti, c.now.Format(time.TimeOnly), err, c.want)
		}
	}

	sum := sha256.Sum256([]byte("token"))
	update(t, s, func(tx storage.Tx) error {
		return tx.CreateFHIRToken(ctx, storage.FHIRToken{Hash: sum[:], ClientID: "c1", Scopes: []string{"system/Slot.rs"},
			ExpiresAt: base.Add(5 * time.Minute), CreatedAt: base})
	})
	token := func(now time.Time) (storage.FHIRToken, error) {
		var k storage.FHIRToken
		err := s.View(ctx, func(tx storage.Tx) (err error) { k, err = tx.FHIRToken(ctx, sum[:], now); return err })
		return k, err
	}
	if k, err := token(base.Add(time.Minute)); err != nil || k.ClientID != "c1" || !slices.Equal(k.Scopes, []string{"system/Slot.rs"}) || !bytes.Equal(k.Hash, sum[:]) {
		t.Errorf("live token = %+v, %v", k, err)
	}
	if _, err := token(base.Add(5 * time.Minute)); fairslot.ErrorKind(err) != fairslot.NotFound {
		t.Errorf("expired token: %v, want NotFound", err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.RevokeFHIRClient(ctx, "c1", base.Add(2*time.Minute)) })
	if _, err := token(base.Add(3 * time.Minute)); fairslot.ErrorKind(err) != fairslot.NotFound {
		t.Errorf("token of a revoked client: %v, want NotFound", err)
	}
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.RevokeFHIRClient(ctx, "c1", base.Add(3*time.Minute)) }); fairslot.ErrorKind(err) != fairslot.Conflict {
		t.Errorf("revoking twice: %v, want a Conflict", err)
	}
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.RevokeFHIRClient(ctx, "nobody", base) }); fairslot.ErrorKind(err) != fairslot.NotFound {
		t.Errorf("revoking an unknown client: %v, want NotFound", err)
	}
	var one storage.FHIRClient
	if err := s.View(ctx, func(tx storage.Tx) (err error) { one, err = tx.FHIRClient(ctx, "c1"); return err }); err != nil || !one.RevokedAt.Equal(base.Add(2*time.Minute)) {
		t.Errorf("revoked client = %+v, %v; want revoked at +2m", one, err)
	}
}
