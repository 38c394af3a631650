package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/config"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fairslot test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writeConfig(t *testing.T, dir string, c map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(c)
	path := filepath.Join(dir, "fairslot.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fetchTransport fetches url and returns the response's HSTS header and whether
// every cookie it set is Secure (and that it set one).
func fetchTransport(t *testing.T, c *http.Client, url string, header map[string]string) (hsts string, allSecure bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cookies := resp.Cookies()
	allSecure = len(cookies) > 0
	for _, ck := range cookies {
		allSecure = allSecure && ck.Secure
	}
	return resp.Header.Get("Strict-Transport-Security"), allSecure
}

// TestServeTLS: with tls_cert and tls_key the server serves HTTPS itself,
// with HSTS and only Secure cookies — the device cookie too.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := writeConfig(t, dir, map[string]any{"tls_cert": certFile, "tls_key": keyFile, "insecure_cookies": true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, done, _ := serveInProcess(t, ctx, "--demo", "--addr", "127.0.0.1:0", "--drain", "0s", "--config", cfg,
		"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json"))
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("banner URL %s, want https", url)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	hsts, secure := fetchTransport(t, c, url+"/login", nil)
	if hsts != config.DefaultHSTS || !secure {
		t.Errorf("over the server's own TLS: HSTS %q, all cookies Secure %v; want %q and true (insecure_cookies is for plain HTTP only)", hsts, secure, config.DefaultHSTS)
	}
	cancel()
	<-done
}

// TestServeBehindProxy: behind a trusted TLS proxy the server sends HSTS
// and Secure cookies when the proxy says https; from an untrusted peer the
// same header is ignored.
func TestServeBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		name    string
		proxies []string
		want    bool
	}{{"trusted", []string{"127.0.0.0/8"}, true}, {"untrusted", nil, false}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, map[string]any{"trusted_proxies": tt.proxies, "insecure_cookies": true})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			url, done, _ := serveInProcess(t, ctx, "--demo", "--addr", "127.0.0.1:0", "--drain", "0s", "--config", cfg,
				"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keyset.json"))
			c := &http.Client{Timeout: 10 * time.Second}
			hsts, secure := fetchTransport(t, c, url+"/login", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"})
			if (hsts == config.DefaultHSTS) != tt.want || secure != tt.want {
				t.Errorf("X-Forwarded-Proto: https from a %s peer: HSTS %q, all cookies Secure %v; want %v", tt.name, hsts, secure, tt.want)
			}
			cancel()
			<-done
		})
	}
}
