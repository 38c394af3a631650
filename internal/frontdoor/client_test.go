package frontdoor_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/frontdoor"
)

func proxies(t *testing.T, list ...string) []netip.Prefix {
	t.Helper()
	ps, err := frontdoor.ParseProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestClientAddr is the resolution table: who the client is for each peer
// and X-Forwarded-For, with 10.0.0.0/8 and 2001:db8:ffff::/48 trusted.
func TestClientAddr(t *testing.T) {
	tr := &frontdoor.Transport{Proxies: proxies(t, "10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7")}
	tests := []struct {
		name, peer string
		xff        []string
		proto      string
		tls        bool
		want       string
		https      bool
	}{
		{name: "no proxy, no header", peer: "203.0.113.5:4000", want: "203.0.113.5"},
		{name: "untrusted peer forges XFF and proto", peer: "203.0.113.5:4000", xff: []string{"198.51.100.1"}, proto: "https", want: "203.0.113.5"},
		{name: "trusted proxy", peer: "10.1.1.1:4000", xff: []string{"198.51.100.1"}, proto: "https", want: "198.51.100.1", https: true},
		{name: "single trusted address", peer: "192.0.2.7:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "client's forged entries left of the real one", peer: "10.1.1.1:4000", xff: []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "chain of trusted proxies", peer: "10.1.1.1:4000", xff: []string{"1.2.3.4, 198.51.100.1, 10.2.2.2", "10.3.3.3"}, want: "198.51.100.1"},
		{name: "all hops trusted", peer: "10.1.1.1:4000", xff: []string{"10.9.9.9, 10.2.2.2"}, want: "10.9.9.9"},
		{name: "trusted proxy, no header", peer: "10.1.1.1:4000", want: "10.1.1.1"},
		{name: "garbage hop ends the walk", peer: "10.1.1.1:4000", xff: []string{"198.51.100.1, bogus, 10.2.2.2"}, want: "10.2.2.2"},
		{name: "IPv6 with port and brackets", peer: "[2001:db8:ffff::1]:443", xff: []string{"[2001:db8:1::5]:3333"}, want: "2001:db8:1::5"},
		{name: "mapped IPv4 peer", peer: "[::ffff:10.1.1.1]:1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "nearest proxy's proto wins", peer: "10.1.1.1:4000", xff: []string{"198.51.100.1"}, proto: "https, http", want: "198.51.100.1"},
		{name: "own TLS", peer: "203.0.113.5:4000", tls: true, want: "203.0.113.5", https: true},
		{name: "own TLS, untrusted proto ignored", peer: "203.0.113.5:4000", proto: "http", tls: true, want: "203.0.113.5", https: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("GET", "/", tt.peer, "")
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			var got netip.Addr
			var https bool
			serve(tr.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, https = frontdoor.ClientAddr(r), frontdoor.HTTPS(r)
			})), r)
			if got.String() != tt.want || https != tt.https {
				t.Errorf("client %s https %v, want %s %v", got, https, tt.want, tt.https)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	ps, err := frontdoor.ParseProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "::ffff:10.0.0.0/104", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := "[10.0.0.0/8 192.0.2.7/32 10.0.0.0/8 2001:db8::/32]"
	if got := fmt.Sprint(ps); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", ""} {
		if _, err := frontdoor.ParseProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestForgedForwardedForChangesNothing: a client that is not behind a
// trusted proxy cannot buy itself a fresh allowance by naming another
// address; the limit stays on its own network.
func TestForgedForwardedForChangesNothing(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PrefixLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 2}
	d, _ := newDoor(t, cfg)
	tr := &frontdoor.Transport{Proxies: proxies(t, "10.0.0.0/8")}
	h := tr.Wrap(d.Wrap(ok, frontdoor.SingleListener))
	for i, code := range []int{200, 200, 429, 429} {
		r := request("GET", "/", "203.0.113.5:4000", "")
		r.Header.Set("X-Forwarded-For", "198.51."+string(rune('0'+i))+".1")
		if w := serve(h, r); w.Code != code {
			t.Errorf("request %d with a forged X-Forwarded-For: %d, want %d", i, w.Code, code)
		}
	}
}

// TestTrustedProxySeparatesClients: behind the hospital's proxy every
// request comes from one peer; two clients still get separate limits, and
// a client's forged entries to the left of what the proxy appended buy
// nothing.
func TestTrustedProxySeparatesClients(t *testing.T) {
	cfg := frontdoor.Default()
	cfg.PrefixLimit = frontdoor.Limit{Rate: 1, Per: fairslot.Duration(time.Minute), Burst: 2}
	d, _ := newDoor(t, cfg)
	tr := &frontdoor.Transport{Proxies: proxies(t, "10.0.0.0/8")}
	h := tr.Wrap(d.Wrap(ok, frontdoor.SingleListener))
	via := func(xff string) int {
		r := request("GET", "/", "10.0.0.2:55000", "")
		r.Header.Set("X-Forwarded-For", xff)
		return serve(h, r).Code
	}
	for i := range 2 {
		if c := via("198.51.100.1"); c != 200 {
			t.Fatalf("client A request %d: %d", i, c)
		}
	}
	if c := via("198.51.100.1"); c != 429 {
		t.Errorf("client A over its limit: %d, want 429", c)
	}
	if c := via("203.0.113.9"); c != 200 {
		t.Errorf("client B behind the same proxy: %d, want 200 (its own limit)", c)
	}
	if c := via("203.0.113.44, 198.51.100.1"); c != 429 {
		t.Errorf("client A forging an address left of its own: %d, want 429", c)
	}
	// A chain: the hospital's edge proxy, then an internal balancer.
	if c := via("192.0.2.1, 10.5.5.5"); c != 200 {
		t.Errorf("client C through two proxies: %d, want 200", c)
	}
}

// TestHSTSAndDeviceCookie: HSTS and a Secure device cookie when the request
// came over TLS — the server's own or a trusted proxy's — and neither on
// plain HTTP or when an untrusted client claims https.
func TestHSTSAndDeviceCookie(t *testing.T) {
	d, _ := newDoor(t, frontdoor.Default())
	const hsts = "max-age=31536000; includeSubDomains"
	tr := &frontdoor.Transport{Proxies: proxies(t, "10.0.0.0/8"), HSTS: hsts}
	h := tr.Wrap(d.Wrap(ok, frontdoor.SingleListener))
	tests := []struct {
		name, peer, proto string
		tls               bool
		secure            bool
	}{
		{"plain HTTP", "203.0.113.5:1", "", false, false},
		{"untrusted claims https", "203.0.113.5:1", "https", false, false},
		{"trusted proxy terminated TLS", "10.0.0.2:1", "https", false, true},
		{"trusted proxy, plain HTTP", "10.0.0.2:1", "http", false, false},
		{"own TLS", "203.0.113.5:1", "", true, true},
	}
	for _, tt := range tests {
		r := request("GET", "/", tt.peer, "")
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := serve(h, r)
		got := w.Header().Get("Strict-Transport-Security")
		if (got == hsts) != tt.secure || (got != "" && got != hsts) {
			t.Errorf("%s: Strict-Transport-Security %q", tt.name, got)
		}
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != frontdoor.DeviceCookie || cookies[0].Secure != tt.secure {
			t.Errorf("%s: cookies %v, want a device cookie with Secure %v", tt.name, cookies, tt.secure)
		}
	}
	// Any cookie a handler sets is made Secure over TLS, not only the door's.
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "fairslot_session", Value: "x", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "fairslot_lang", Value: "vi", Secure: true})
		w.WriteHeader(200)
	})
	for _, tt := range tests {
		r := request("GET", "/", tt.peer, "")
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		cookies := serve(tr.Wrap(page), r).Result().Cookies()
		if len(cookies) != 2 || cookies[0].Secure != tt.secure || !cookies[1].Secure {
			t.Errorf("%s: a handler's cookies %v, want Secure %v", tt.name, cookies, tt.secure)
		}
	}
	off := &frontdoor.Transport{Proxies: proxies(t, "10.0.0.0/8")}
	r := request("GET", "/", "203.0.113.5:1", "")
	r.TLS = &tls.ConnectionState{}
	if got := serve(off.Wrap(ok), r).Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS off: sent %q", got)
	}
}

// TestStreamsThroughTransport: over TLS the transport wraps the response
// writer; a display stream still flushes and sets its write deadlines
// through it (http.ResponseController).
func TestStreamsThroughTransport(t *testing.T) {
	tr := &frontdoor.Transport{HSTS: "max-age=60"}
	errs := make(chan error, 2)
	srv := httptest.NewTLSServer(tr.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		w.Write([]byte("event: board\n\n"))
		errs <- rc.Flush()
	})))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("through the transport: %v", err)
		}
	}
	if resp.Header.Get("Strict-Transport-Security") != "max-age=60" {
		t.Errorf("HSTS = %q", resp.Header.Get("Strict-Transport-Security"))
	}
}
