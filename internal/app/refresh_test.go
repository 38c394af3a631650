package app_test

import (
	"sync"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

func (e *env) patientLogin(t *testing.T, phone string) app.Tokens {
	t.Helper()
	if err := e.svc.RequestLoginCode(ctx, app.Actor{}, phone); err != nil {
		t.Fatal(err)
	}
	toks, _, err := e.svc.PatientLogin(ctx, app.Actor{}, phone, e.inbox.code(phone))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// valid reports whether an access token still authenticates, and whether
// the front door would still lane it as a patient's (without the database).
func (e *env) valid(t *testing.T, access string) (db, door bool) {
	t.Helper()
	_, err := e.svc.Authenticate(ctx, access, "")
	if err != nil && fairslot.ErrorKind(err) != fairslot.Unauthorized {
		t.Fatal(err)
	}
	_, _, door = e.svc.TokenClaims(access)
	return err == nil, door
}

// TestPatientTokensAreShortAndRefresh: a patient's access token lives an
// hour, not a month; the refresh token gets a new one after it expired, is
// rotated on every use, and the refreshed login keeps working for as long
// as the patient keeps coming back.
func TestPatientTokensAreShortAndRefresh(t *testing.T) {
	e := newEnv(t)
	start := e.clock.Now()
	toks := e.patientLogin(t, "13800000001")
	if got := toks.AccessExpires.Sub(start); got > app.DefaultPatientTokenTTL || got < app.DefaultPatientTokenTTL-time.Second {
		t.Errorf("access token lives %v, want %v", got, app.DefaultPatientTokenTTL)
	}
	if got := toks.RefreshExpires.Sub(start); got != app.DefaultPatientRefreshTTL {
		t.Errorf("refresh token lives %v, want %v", got, app.DefaultPatientRefreshTTL)
	}
	e.clock.Add(61 * time.Minute)
	if db, door := e.valid(t, toks.Access); db || door {
		t.Fatalf("an access token 61 minutes old: valid in the database %v, at the door %v; want neither", db, door)
	}
	// Thirty refreshes, a day apart: past the first refresh token's expiry.
	for i := range 30 {
		next, err := e.svc.Refresh(ctx, app.Actor{}, toks.Refresh)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if next.Refresh == toks.Refresh || next.Access == toks.Access {
			t.Fatalf("refresh %d returned the same tokens", i)
		}
		if db, door := e.valid(t, next.Access); !db || !door {
			t.Fatalf("refresh %d: the new access token is not valid (database %v, door %v)", i, db, door)
		}
		toks = next
		e.clock.Add(24 * time.Hour)
	}
	if n := e.auditCount(t, "account.refreshed"); n != 30 {
		t.Errorf("%d refreshes audited, want 30", n)
	}
	// Unused for longer than its lifetime, a refresh token is refused.
	e.clock.Add(app.DefaultPatientRefreshTTL)
	_, err := e.svc.Refresh(ctx, app.Actor{}, toks.Refresh)
	wantKind(t, "an expired refresh token", err, fairslot.Unauthorized)
	for _, bad := range []string{"", "fsr_nothing", toks.Access} {
		_, err := e.svc.Refresh(ctx, app.Actor{}, bad)
		wantKind(t, "refresh with "+bad, err, fairslot.Unauthorized)
	}
}

// TestRefreshReuseRevokesTheFamily: a thief replays a refresh token the
// patient already used (or the patient replays one the thief used): the
// whole family is revoked — the live refresh token and every access token
// issued in it, at once in this node's revocation set — and the event is
// audited. Another login of the same account is untouched.
func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	e := newEnv(t)
	other := e.patientLogin(t, "13800000002") // the same account on another phone
	e.clock.Add(2 * time.Minute)
	stolen := e.patientLogin(t, "13800000002")
	e.clock.Add(5 * time.Minute)
	patient, err := e.svc.Refresh(ctx, app.Actor{}, stolen.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	// Moments later: taken for the same browser racing itself, refused
	// without revoking anything.
	_, err = e.svc.Refresh(ctx, app.Actor{}, stolen.Refresh)
	if err != app.ErrRefreshRaced {
		t.Errorf("a replay within seconds: %v, want ErrRefreshRaced", err)
	}
	if db, _ := e.valid(t, patient.Access); !db {
		t.Fatal("a race revoked the family")
	}
	e.clock.Add(time.Minute)
	_, err = e.svc.Refresh(ctx, app.Actor{}, stolen.Refresh)
	wantKind(t, "a spent refresh token replayed", err, fairslot.Unauthorized)
	if n := e.auditCount(t, "account.refresh_reused"); n != 1 {
		t.Errorf("%d reuses audited, want 1", n)
	}
	for name, access := range map[string]string{"the first access token": stolen.Access, "the refreshed one": patient.Access} {
		if db, door := e.valid(t, access); db || door {
			t.Errorf("%s after reuse: valid in the database %v, at the door %v; want neither", name, db, door)
		}
	}
	_, err = e.svc.Refresh(ctx, app.Actor{}, patient.Refresh)
	wantKind(t, "the family's live refresh token after reuse", err, fairslot.Unauthorized)
	if db, door := e.valid(t, other.Access); !db || !door {
		t.Error("another login of the account was revoked too")
	}
	if _, err := e.svc.Refresh(ctx, app.Actor{}, other.Refresh); err != nil {
		t.Errorf("another login's refresh: %v", err)
	}
}

// TestPatientLogoutRevokesTheFamily: logging out ends the access token and
// the refresh tokens of its login.
func TestPatientLogoutRevokesTheFamily(t *testing.T) {
	e := newEnv(t)
	toks := e.patientLogin(t, "13800000003")
	e.clock.Add(time.Minute)
	next, err := e.svc.Refresh(ctx, app.Actor{}, toks.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.Authenticate(ctx, next.Access, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PatientLogout(ctx, a, next.Access); err != nil {
		t.Fatal(err)
	}
	if db, door := e.valid(t, next.Access); db || door {
		t.Error("the access token survived logout")
	}
	e.clock.Add(time.Minute)
	_, err = e.svc.Refresh(ctx, app.Actor{}, next.Refresh)
	wantKind(t, "refresh after logout", err, fairslot.Unauthorized)
	if n := e.auditCount(t, "account.refresh_revoked"); n != 1 {
		t.Errorf("%d family revocations audited, want 1", n)
	}
}

// TestPatientTokenTTLConfigurable: Service.PatientTokenTTL sets the
// lifetime of a patient's access token.
func TestPatientTokenTTLConfigurable(t *testing.T) {
	e := newEnv(t)
	e.svc.PatientTokenTTL, e.svc.PatientRefreshTTL = 10*time.Minute, 2*time.Hour
	start := e.clock.Now()
	toks := e.patientLogin(t, "13800000004")
	if got := toks.AccessExpires.Sub(start); got > 10*time.Minute || got < 10*time.Minute-time.Second {
		t.Errorf("access token lives %v, want 10m", got)
	}
	if got := toks.RefreshExpires.Sub(start); got != 2*time.Hour {
		t.Errorf("refresh token lives %v, want 2h", got)
	}
}

// TestConcurrentRefreshOneWinner: a browser's requests that all found the
// access token expired refresh at once with one refresh token: exactly one
// gets new tokens, the others are told of the race, and the login survives.
func TestConcurrentRefreshOneWinner(t *testing.T) {
	e := newEnv(t)
	toks := e.patientLogin(t, "13800000005")
	e.clock.Add(2 * time.Hour)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	winners := make(chan app.Tokens, 8)
	for range 8 {
		wg.Go(func() {
			next, err := e.svc.Refresh(ctx, app.Actor{}, toks.Refresh)
			if err == nil {
				winners <- next
			}
			results <- err
		})
	}
	wg.Wait()
	close(results)
	close(winners)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case err != app.ErrRefreshRaced:
			t.Errorf("a concurrent refresh: %v, want ErrRefreshRaced", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 8 concurrent refreshes won, want 1", won)
	}
	if db, door := e.valid(t, (<-winners).Access); !db || !door {
		t.Error("the winner's access token is not valid: the race revoked the login")
	}
}
