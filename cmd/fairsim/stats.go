package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/privacy"
)

// recorder collects each kind of request's latencies and answers.
type recorder struct {
	mu sync.Mutex
	m  map[string]*series
}

type series struct {
	lat   []time.Duration
	codes map[int]int
}

func newRecorder() *recorder { return &recorder{m: map[string]*series{}} }

// add records one request; code 0 is a transport error (no answer).
func (r *recorder) add(name string, d time.Duration, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.m[name]
	if s == nil {
		s = &series{codes: map[int]int{}}
		r.m[name] = s
	}
	s.lat = append(s.lat, d)
	s.codes[code]++
}

// Summary is one kind of request's figures.
type Summary struct {
	N       int         `json:"n"`
	OK      int         `json:"ok"` // 2xx answers
	Success float64     `json:"success_rate"`
	P50ms   float64     `json:"p50_ms"`
	P90ms   float64     `json:"p90_ms"`
	P99ms   float64     `json:"p99_ms"`
	MaxMs   float64     `json:"max_ms"`
	Codes   map[int]int `json:"codes"` // 0: no answer
}

func (r *recorder) summaries() map[string]Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Summary{}
	for name, s := range r.m {
		out[name] = s.summary()
	}
	return out
}

// all merges every series whose name starts with prefix.
func (r *recorder) all(prefix string) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &series{codes: map[int]int{}}
	for name, s := range r.m {
		if strings.HasPrefix(name, prefix) {
			m.lat = append(m.lat, s.lat...)
			for c, n := range s.codes {
				m.codes[c] += n
			}
		}
	}
	return m.summary()
}

func (s *series) summary() Summary {
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)]) / 1e6
	}
	out := Summary{N: len(lat), Codes: s.codes, P50ms: q(0.5), P90ms: q(0.9), P99ms: q(0.99), MaxMs: q(1)}
	for c, n := range s.codes {
		if c >= 200 && c < 300 {
			out.OK += n
		}
	}
	if out.N > 0 {
		out.Success = float64(out.OK) / float64(out.N)
	}
	return out
}

// timed sends one request and records it under name.
func (r *recorder) timed(ctx context.Context, name string, c *apiclient.Client, method, path string, body any, prove bool, header map[string]string) (*apiclient.Response, error) {
	start := time.Now()
	resp, err := c.Do(ctx, method, path, body, header, prove)
	code := 0
	if err == nil {
		code = resp.Status
	}
	r.add(name, time.Since(start), code)
	return resp, err
}

// patiently sends a set-up request until it is not refused for load or
// rate, honouring Retry-After: set-up is not what is measured.
func patiently(ctx context.Context, c *apiclient.Client, method, path string, body any, want int, header ...map[string]string) (*apiclient.Response, error) {
	var h map[string]string
	if len(header) > 0 {
		h = header[0]
	}
	for try := 0; ; try++ {
		resp, err := c.Do(ctx, method, path, body, h, false)
		if err == nil && resp.Status == want {
			return resp, nil
		}
		if err == nil && resp.Status != http.StatusTooManyRequests && resp.Status != http.StatusServiceUnavailable {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.Status, strings.TrimSpace(string(resp.Body)))
		}
		if try == 30 || ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: still refused after %d tries: %v", method, path, try+1, err)
		}
		wait := time.Second
		if err == nil {
			if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// codeText finds the code in a login code message, in any of its
// languages (the account's, else the request's, else zh-CN).
var codeText = regexp.MustCompile(`(?:Your fairslot login code is |您的 fairslot 登录验证码是 |Mã đăng nhập fairslot của bạn là )(\d{6})`)

// login signs a phone in: it asks for a code, reads it from the demo
// server's outbox on the internal listener, and logs in.
func login(ctx context.Context, c *apiclient.Client, staff, phone string) error {
	_, err := patientLogin(ctx, c, staff, phone)
	return err
}

// signedIn is what a login answers: the account, and the refresh token
// that renews its access token (after a simulated clock's jump).
type signedIn struct {
	Token   string
	Refresh string `json:"refresh_token"`
	Account struct{ ID int64 }
}

// patientLogin is login, returning the login's answer.
func patientLogin(ctx context.Context, c *apiclient.Client, staff, phone string) (signedIn, error) {
	var out signedIn
	if _, err := patiently(ctx, c, "POST", "/api/v1/auth/code", map[string]string{"phone": phone}, 202); err != nil {
		return out, err
	}
	resp, err := (&apiclient.Client{HTTP: c.HTTP, Base: staff}).Do(ctx, "GET", "/demo/messages/"+phone, nil, nil, false)
	if err != nil {
		return out, err
	}
	m := codeText.FindStringSubmatch(string(resp.Body))
	if m == nil {
		return out, fmt.Errorf("no login code for %s in the demo outbox (%d): is the server running with --demo --sim?", phone, resp.Status)
	}
	resp, err = patiently(ctx, c, "POST", "/api/v1/auth/login", map[string]string{"phone": phone, "code": m[1]}, 200)
	if err != nil {
		return out, err
	}
	if err := resp.Decode(&out); err != nil {
		return out, err
	}
	c.Token = out.Token
	// No binding or booking before the privacy notice is accepted.
	_, err = patiently(ctx, c, "POST", "/api/v1/privacy/consent", map[string]string{"version": privacy.NoticeVersion, "lang": "zh-CN"}, 201)
	return out, err
}

// renew spends a refresh token for a new access token, returning the next
// refresh token.
func renew(ctx context.Context, c *apiclient.Client, refresh string) (string, error) {
	resp, err := patiently(ctx, c, "POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": refresh}, 200)
	if err != nil {
		return "", err
	}
	var out signedIn
	if err := resp.Decode(&out); err != nil {
		return "", err
	}
	c.Token = out.Token
	return out.Refresh, nil
}

// residentID is the n-th made-up resident ID number with a valid check
// digit: born in 1950 plus n/1000 days, sequence n%1000.
func residentID(n int) string {
	born := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n/1000)
	first := fmt.Sprintf("110105%s%03d", born.Format("20060102"), n%1000)
	return first + string(fairslot.ResidentCheckDigit(first))
}

// bind binds the n-th made-up patient to c's account.
func bind(ctx context.Context, c *apiclient.Client, n int) (int64, error) {
	resp, err := patiently(ctx, c, "POST", "/api/v1/patients", map[string]string{
		"name": fmt.Sprintf("模拟%d", n), "id_type": "cn_resident", "id_number": residentID(n)}, 201)
	if err != nil {
		return 0, err
	}
	var p struct{ ID int64 }
	return p.ID, resp.Decode(&p)
}

// parallel runs fn for 0..n-1 on at most workers goroutines; the first
// error wins.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// Peak is the server's largest resident memory and goroutine count seen on
// its /metrics during a run.
type Peak struct {
	RSSMB      float64 `json:"rss_mb"`
	Goroutines float64 `json:"goroutines"`
	Samples    int     `json:"samples"`
}

// watch samples url's process_resident_memory_bytes and go_goroutines
// every 200 ms until ctx ends.
func watch(ctx context.Context, url string) func() Peak {
	var mu sync.Mutex
	var p Peak
	done := make(chan struct{})
	go func() {
		defer close(done)
		if url == "" {
			return
		}
		c := http.Client{Timeout: 2 * time.Second}
		for ctx.Err() == nil {
			if resp, err := c.Get(url); err == nil {
				sc := bufio.NewScanner(resp.Body)
				mu.Lock()
				p.Samples++
				for sc.Scan() {
					name, v, _ := strings.Cut(sc.Text(), " ")
					f, _ := strconv.ParseFloat(v, 64)
					switch name {
					case "process_resident_memory_bytes":
						p.RSSMB = max(p.RSSMB, f/(1<<20))
					case "go_goroutines":
						p.Goroutines = max(p.Goroutines, f)
					}
				}
				mu.Unlock()
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() Peak {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return p
	}
}
