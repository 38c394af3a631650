package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// TestActorAddrIsTheRealClient: the address the API gives the login
// throttle and the audit record is the client behind a trusted proxy, and
// the TCP peer when a stranger sends X-Forwarded-For.
func TestActorAddrIsTheRealClient(t *testing.T) {
	tr := &frontdoor.Transport{Proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, tt := range []struct{ peer, want string }{
		{"10.0.0.2:443", "198.51.100.0/24"},
		{"203.0.113.5:443", "203.0.113.0/24"},
	} {
		r := httptest.NewRequest("POST", "/api/v1/staff/login", nil)
		r.RemoteAddr = tt.peer
		r.Header.Set("X-Forwarded-For", "198.51.100.7")
		var got string
		tr.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = httpapi.Anonymous(r).Addr
		})).ServeHTTP(httptest.NewRecorder(), r)
		if got != tt.want {
			t.Errorf("peer %s: actor address %q, want %q", tt.peer, got, tt.want)
		}
	}
}
