package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/payment"
	"github.com/fairslot/fairslot/internal/storage"
)

// payRefusal is a refusal's status, key and field.
func payRefusal(code int, body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	return fmt.Sprintf("%d %v %v", code, e["key"], e["field"])
}

// TestPayNamesThePayer: POST /api/v1/bookings/{id}/pay takes an optional
// {"payer"} for the sandbox, which stands in for the wallet: a bad body or
// a payer no wallet gives is refused with a clear error and takes nothing;
// the payer named reaches the risk event as a keyed hash; a provider that
// is not the sandbox refuses any payer a client names.
func TestPayNamesThePayer(t *testing.T) {
	e := newEnv(t)
	tok := e.patientToken(t, demo.PatientPhone)
	id := fmt.Sprint(e.hold(t, tok, "k1")["id"])
	path := "/api/v1/bookings/" + id + "/pay"
	sandbox := e.svc.Payments.(*payment.Sandbox)
	for _, tt := range []struct{ name, body, contentType, want string }{
		{"a control character", `{"payer":"wx\u0000x"}`, "", "400 error.pay.payer payer"},
		{"a new line", `{"payer":"wx\nX-Evil: 1"}`, "", "400 error.pay.payer payer"},
		{"too long", `{"payer":"` + strings.Repeat("w", payment.PayerMax+1) + `"}`, "", "400 error.pay.payer payer"},
		{"a bidi override", `{"payer":"\u202ewx"}`, "", "400 error.pay.payer payer"},
		{"not a string", `{"payer":7}`, "", "400 error.kind.invalid <nil>"},
		{"an unknown field", `{"payer":"wx","amount":1}`, "", "400 error.kind.invalid <nil>"},
		{"malformed", `{"payer":`, "", "400 error.kind.invalid <nil>"},
		{"a form", `payer=wx`, "application/x-www-form-urlencoded", "400 error.kind.invalid <nil>"},
	} {
		code, body := e.do(t, call{method: "POST", path: path, token: tok, key: "p-bad", body: tt.body, contentType: tt.contentType})
		if got := payRefusal(code, body); got != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.name, got, body, tt.want)
		}
	}
	if len(sandbox.Held()) != 0 {
		t.Fatalf("a refused pay request took money: %v", sandbox.Held())
	}
	if code, body := e.do(t, call{method: "POST", path: path, token: tok, key: "p1", body: `{"payer":"oWx-buyer_1"}`}); code != 200 || body["status"] != "confirmed" {
		t.Fatalf("pay naming the payer = %d %v", code, body)
	}
	events, err := riskPays(e)
	if err != nil || len(events) != 1 || events[0] != e.svc.ClientHash("payer", "sandbox\x00oWx-buyer_1") {
		t.Errorf("the pay events' payers = %q, %v; want the keyed hash of the sandbox's payer", events, err)
	}

	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id + "/cancel", token: tok}); code != 200 {
		t.Fatalf("cancel = %d %v", code, body)
	}
	// A real provider names the payer itself: a client's is refused.
	e.svc.Payments = notSandbox{sandbox}
	id3 := fmt.Sprint(e.hold(t, tok, "k3")["id"])
	code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id3 + "/pay", token: tok, key: "p3", body: `{"payer":"forged"}`})
	if got := payRefusal(code, body); got != "400 error.pay.payer_named payer" {
		t.Errorf("a payer named to a real provider: %s (%v)", got, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings/" + id3 + "/pay", token: tok, key: "p3"}); code != 200 || body["status"] != "confirmed" {
		t.Errorf("pay without a payer through a real provider = %d %v", code, body)
	}
}

// notSandbox is the sandbox behind a provider's interface only: a real
// provider, which no client may name a payer to.
type notSandbox struct{ sb *payment.Sandbox }

func (p notSandbox) Name() string { return "sandbox" }
func (p notSandbox) Charge(ctx context.Context, key string, amount int64, ref string) (payment.Charge, error) {
	return p.sb.Charge(ctx, key, amount, ref)
}
func (p notSandbox) Refund(ctx context.Context, key string) error { return p.sb.Refund(ctx, key) }
func (p notSandbox) Status(ctx context.Context, key string) (payment.Charge, error) {
	return p.sb.Status(ctx, key)
}

// riskPays lists the pay risk events' payer hashes.
func riskPays(e *env) ([]string, error) {
	var out []string
	err := e.svc.Store.View(context.Background(), func(tx storage.Tx) error {
		evs, err := tx.RiskEvents(context.Background(), 0, 1000)
		for _, ev := range evs {
			if ev.Kind == storage.RiskPay {
				out = append(out, ev.Detail["payer"])
			}
		}
		return err
	})
	return out, err
}
