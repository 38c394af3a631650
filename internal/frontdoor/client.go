package frontdoor

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// The client's address is what every limit, stream cap, login throttle and
// audit record keys on. Behind the hospital's TLS proxy the TCP peer is the
// proxy — every patient one address — so the proxy's X-Forwarded-For must be
// read; but a header anyone can send must not name the client, or a bot
// gets a fresh allowance with every made-up address. So the headers are
// read only when the TCP peer is a configured trusted proxy, and the client
// is the right-most address in X-Forwarded-For that is not itself a trusted
// proxy: what the outermost proxy we trust saw, never what the client wrote
// to the left of it.

// Transport resolves each request's real client address and scheme once,
// before the front door, and sets Strict-Transport-Security on responses
// to requests that came over TLS. The zero value trusts no proxy and sends
// no HSTS.
type Transport struct {
	// Proxies are the networks of the trusted proxies.
	Proxies []netip.Prefix
	// HSTS is the Strict-Transport-Security value sent on every response
	// to a request that came over TLS (the server's own, or a trusted
	// proxy's X-Forwarded-Proto: https); empty: none.
	HSTS string
}

// ParseProxies reads a trusted_proxies list: CIDR prefixes, or single
// addresses (a /32 or /128).
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("config: trusted_proxies: %q is neither a CIDR prefix nor an address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// client is what Transport resolved of a request.
type client struct {
	addr  netip.Addr
	https bool
}

type clientKey struct{}

// Wrap resolves the client of every request to next. To a request that
// came over TLS it sends HSTS, and marks every cookie the response sets
// Secure — the pages', the device's, any handler's — so that none of them
// is ever sent back over plain HTTP.
func (t *Transport) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := t.resolve(r)
		r = r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
		if !c.https {
			next.ServeHTTP(w, r)
			return
		}
		if t.HSTS != "" {
			w.Header().Set("Strict-Transport-Security", t.HSTS)
		}
		next.ServeHTTP(&secureCookies{ResponseWriter: w}, r)
	})
}

// secureCookies adds the Secure attribute to every Set-Cookie of a
// response as its header is written.
type secureCookies struct {
	http.ResponseWriter
	wrote bool
}

func (w *secureCookies) fix() {
	if w.wrote {
		return
	}
	w.wrote = true
	cs := w.Header()["Set-Cookie"]
	for i, c := range cs {
		if !hasSecure(c) {
			cs[i] = c + "; Secure"
		}
	}
}

func hasSecure(cookie string) bool {
	for _, attr := range strings.Split(cookie, ";")[1:] {
		if strings.EqualFold(strings.TrimSpace(attr), "secure") {
			return true
		}
	}
	return false
}

func (w *secureCookies) WriteHeader(code int) {
	w.fix()
	w.ResponseWriter.WriteHeader(code)
}

func (w *secureCookies) Write(b []byte) (int, error) {
	w.fix()
	return w.ResponseWriter.Write(b)
}

// Flush and Unwrap keep streams (http.ResponseController) working.
func (w *secureCookies) Flush() {
	w.fix()
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *secureCookies) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (t *Transport) trusted(a netip.Addr) bool {
	for _, p := range t.Proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// resolve finds the client: the TCP peer, unless the peer is a trusted
// proxy; then the right-most X-Forwarded-For address that is not a trusted
// proxy (or the left-most, if all are), and the scheme the nearest proxy
// reports. An unparseable entry ends the walk: the client is the last
// address a trusted proxy vouched for.
func (t *Transport) resolve(r *http.Request) client {
	c := client{addr: peer(r.RemoteAddr), https: r.TLS != nil}
	if !c.addr.IsValid() || !t.trusted(c.addr) {
		return c
	}
	hops := forwarded(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHop(hops[i])
		if !a.IsValid() {
			break
		}
		c.addr = a
		if !t.trusted(a) {
			break
		}
	}
	if protos := forwarded(r.Header.Values("X-Forwarded-Proto")); len(protos) > 0 {
		c.https = strings.EqualFold(protos[len(protos)-1], "https")
	}
	return c
}

// forwarded splits the values of a list header into its entries, in order.
func forwarded(values []string) []string {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port, IPv6 possibly in brackets.
func parseHop(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

func peer(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func resolved(r *http.Request) client {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c
	}
	return client{addr: peer(r.RemoteAddr), https: r.TLS != nil}
}

// ClientAddr is the request's real client address, as Transport resolved
// it (without Transport: the TCP peer). It is the one place a client's
// address is read; nothing else reads RemoteAddr or X-Forwarded-For.
func ClientAddr(r *http.Request) netip.Addr { return resolved(r).addr }

// ClientPrefix is the client's network (AddrPrefix of ClientAddr): what the
// limits, stream caps, login throttles and audit records key on.
func ClientPrefix(r *http.Request) string {
	a := ClientAddr(r)
	if !a.IsValid() {
		return ""
	}
	return addrPrefix(a)
}

// HTTPS reports whether the request came over TLS: to this server, or to a
// trusted proxy that said so in X-Forwarded-Proto.
func HTTPS(r *http.Request) bool { return resolved(r).https }
