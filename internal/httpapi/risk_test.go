package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestRiskAccountsEndpoint: GET /api/v1/staff/risk/accounts lists the
// stored risk decisions, worst first, from the mildest action asked for
// (challenge by default), with when each action was first reached and
// why; only the admin and security roles may read it; a bad min is a 400.
func TestRiskAccountsEndpoint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []int64
	for _, phone := range []string{"13900000801", "13900000802", "13900000803"} {
		_, id, ok := e.svc.TokenClaims(e.patientToken(t, phone))
		if !ok {
			t.Fatal("a fresh patient token has no claims")
		}
		ids = append(ids, id)
	}
	at := time.Date(2026, 12, 10, 1, 0, 0, 0, time.UTC)
	rows := []storage.RiskAccount{
		{AccountID: ids[0], Action: "hold", Score: 75, Reasons: []string{"8 patients bound to the account (+45)"}, Keys: []string{"risk.signal.many_patients"},
			Since: map[string]time.Time{"challenge": at, "limit": at, "hold": at}, UpdatedAt: at},
		{AccountID: ids[1], Action: "challenge", Score: 20, Since: map[string]time.Time{"challenge": at}, UpdatedAt: at.Add(time.Hour)},
		{AccountID: ids[2], Action: "allow", Score: 0, Reviewed: true, Since: map[string]time.Time{"challenge": at}, UpdatedAt: at.Add(2 * time.Hour)},
	}
	if err := e.store.Update(ctx, func(tx storage.Tx) error {
		// A reviewed decision follows a reviewer's on the record (0037).
		st := fairslot.Staff{Username: "reviewer", Name: "Sec", Role: fairslot.Security}
		if err := tx.CreateStaff(ctx, &st, "h"); err != nil {
			return err
		}
		if err := tx.AppendRiskReview(ctx, &storage.RiskReview{AccountID: ids[2], Action: "allow", Saw: 20, Reason: "checked", StaffID: st.ID, At: at}); err != nil {
			return err
		}
		for _, r := range rows {
			if err := tx.PutRiskAccount(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	admin, security, desk := e.staffToken(t, "admin"), e.staffToken(t, "security"), e.staffToken(t, "desk")
	patient := e.patientToken(t, "13900000804")
	list := func(token, query string) (int, []map[string]any, map[string]any) {
		t.Helper()
		code, body := e.do(t, call{method: "GET", path: "/api/v1/staff/risk/accounts" + query, token: token})
		var out []map[string]any
		if as, ok := body["accounts"].([]any); ok {
			for _, a := range as {
				out = append(out, a.(map[string]any))
			}
		}
		return code, out, body
	}
	tests := []struct {
		token, query string
		code         int
		want         []int64
	}{
		{admin, "", 200, []int64{ids[0], ids[1]}},
		{security, "?min=challenge", 200, []int64{ids[0], ids[1]}},
		{admin, "?min=hold", 200, []int64{ids[0]}},
		{admin, "?min=block", 200, nil},
		{admin, "?min=allow", 200, []int64{ids[0], ids[1], ids[2]}},
		{admin, "?min=allow&limit=1", 200, []int64{ids[0]}},
		{admin, "?min=worse", 400, nil},
		{admin, "?limit=x", 400, nil},
		{desk, "", 403, nil},
		{patient, "", 401, nil},
		{"", "", 401, nil},
	}
	for _, tt := range tests {
		code, got, body := list(tt.token, tt.query)
		var gotIDs []int64
		for _, a := range got {
			gotIDs = append(gotIDs, int64(a["account_id"].(float64)))
		}
		if code != tt.code || len(gotIDs) != len(tt.want) {
			t.Errorf("GET %s = %d %v, want %d with %v", tt.query, code, body, tt.code, tt.want)
			continue
		}
		for i := range gotIDs {
			if gotIDs[i] != tt.want[i] {
				t.Errorf("GET %s = accounts %v, want %v", tt.query, gotIDs, tt.want)
				break
			}
		}
		if tt.code == 200 && body["accounts"] == nil {
			t.Errorf("GET %s: accounts is null, want a list", tt.query)
		}
	}
	_, got, _ := list(admin, "?min=hold")
	a := got[0]
	since, _ := a["since"].(map[string]any)
	reasons, _ := a["reasons"].([]any)
	held, err := time.Parse(time.RFC3339, since["hold"].(string))
	if err != nil || !held.Equal(at) || a["action"] != "hold" || a["score"] != 75.0 || a["reviewed"] != false ||
		len(reasons) != 1 || reasons[0] != "8 patients bound to the account (+45)" {
		t.Errorf("the held account = %v", a)
	}
}
