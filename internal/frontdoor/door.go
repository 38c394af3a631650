package frontdoor

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/redislimit"
)

// Claims reads a bearer token's kind ("staff" or "account") and subject
// without the database; ok only for a token the server signed that has not
// expired and is not known to be revoked.
type Claims func(token string) (kind string, subject int64, ok bool)

// Limiter decides one request for a key.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Door is the admission layer. Build it with New; wrap each listener's
// handler with Wrap.
type Door struct {
	cfg      Config
	claims   Claims
	lanes    [lanes]*gate.Lane
	laneCfg  [lanes]LaneConfig
	limits   [limitKinds]Limiter
	ch       *gate.Challenger
	devices  gate.Signer
	redis    *redisLink
	log      *slog.Logger
	m        metrics
	refusals [lanes]map[string]*refusal
	// Challenged reports whether a request needs a solved challenge: the
	// public booking and draw-entry endpoints.
	Challenged func(*http.Request) bool
	// Streamed reports whether a request opens a long-lived stream (the
	// display's server-sent events), which takes a place in its listener's
	// stream pool instead of a lane's.
	Streamed func(*http.Request) bool
	// TokenCookies name the cookies that carry a browser's token (the
	// pages' sessions), read when a request has no Authorization header, so
	// that a patient's page requests go in the patient lane.
	TokenCookies []string
	// RateFactor is the factor (0 < f ≤ 1) an account's rate limit is
	// multiplied by: below 1 for an account the risk rules limit (the risk
	// monitor's Decision). nil: 1 for all.
	RateFactor func(account int64) float64
	// Observe is told of each signed-in patient's request, before its
	// limits — the risk monitor's Request, for the cadence signal. It
	// must not block. nil: none.
	Observe func(account int64, device, prefix string, at time.Time)

	reducedMu sync.Mutex
	reduced   map[int]Limiter // by the factor in percent
	// Refusals are not logged one by one (a flood would fill the disk): a
	// summary line at most every logEvery.
	refusedSinceLog atomic.Int64
	lastLog         atomic.Int64
	now             func() time.Time
}

type limitKind int

const (
	byAccount limitKind = iota
	byPatient
	byDevice
	byPrefix
	limitKinds
)

var limitNames = [limitKinds]string{"account", "patient", "device", "prefix"}

// The refusal reasons, spelt once so that refusing allocates nothing.
var (
	limitReasons = [limitKinds]string{"limited_account", "limited_patient", "limited_device", "limited_prefix"}
	shedReasons  = map[gate.Shed]string{gate.QueueFull: "shed_queue_full", gate.Deadline: "shed_deadline", gate.Gone: "shed_gone"}
	// A refused stream: its listener's pool is full, or the cap of its
	// network, device or account (the pool's kinds, in that order).
	streamReasons = map[gate.StreamRefusal]string{gate.StreamsFull: "streams_full", 0: "streams_prefix", 1: "streams_device", 2: "streams_token"}
)

const logEvery = 10 * time.Second

// New builds a door. key derives the signing keys (the vault's Key), the
// same on every node; claims reads bearer tokens. With cfg.Redis set the
// limits and spent challenges live in Redis — in memory while it fails; a
// Redis down at start-up does not hold New up — and Close must be called.
func New(ctx context.Context, cfg Config, key func(purpose string) []byte, claims Claims, reg prometheus.Registerer, log *slog.Logger) (*Door, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Door{cfg: cfg, claims: claims, log: log, now: time.Now, devices: key("device-cookie"),
		Challenged: func(*http.Request) bool { return false }, Streamed: func(*http.Request) bool { return false }}
	d.lastLog.Store(time.Now().UnixNano())
	d.laneCfg = [lanes]LaneConfig{cfg.StaffLane, cfg.PatientLane, cfg.PublicLane}
	for i, l := range d.laneCfg {
		d.lanes[i] = gate.NewLane(l.Active, l.Queue, time.Duration(l.Deadline))
	}
	d.ch = &gate.Challenger{Key: key("challenge"), TTL: time.Duration(cfg.ChallengeTTL), Spent: gate.NewSpentSet(cfg.ChallengeSpentMax)}
	limits := [limitKinds]Limit{cfg.AccountLimit, cfg.PatientLimit, cfg.DeviceLimit, cfg.PrefixLimit}
	for k, l := range limits {
		d.limits[k] = memoryLimiter{gate.NewMemory(l.gate(), cfg.MaxKeys)}
	}
	if cfg.Redis != "" {
		link, err := openRedis(ctx, cfg, reg, log)
		if err != nil {
			return nil, fmt.Errorf("front door: %w", err)
		}
		d.redis = link
		for k, l := range limits {
			remote := &redislimit.Limiter{Client: link.client, Limit: l.gate(), Prefix: "fairslot:rl:" + limitNames[k] + ":"}
			d.limits[k] = &shared{remote: remote, local: d.limits[k], redis: link}
		}
		d.ch.Spent = &sharedSpent{remote: &redislimit.Spent{Client: link.client, Prefix: "fairslot:pow:"}, local: d.ch.Spent, redis: link}
	}
	d.m = newMetrics(reg, d)
	for l := range lanes {
		d.refusals[l] = refusalsFor(l, d.m)
	}
	return d, nil
}

// Close stops the Redis prober and releases the connections, if any.
func (d *Door) Close() error {
	if d.redis != nil {
		return d.redis.Close()
	}
	return nil
}

// Listener names what a listener serves, which decides its lanes.
type Listener int

const (
	// SingleListener is the only listener: patients, staff and displays
	// alike. A valid staff token puts a request in the staff lane.
	SingleListener Listener = iota
	// PublicListener is the public listener beside an internal one: no
	// request on it is ever in the staff lane, whatever token it carries.
	PublicListener
	// InternalListener is the internal listener (desks, kiosks, doctors,
	// boards): every request on it is in the staff lane.
	InternalListener
)

var listenerNames = [...]string{"single", "public", "internal"}

func (l Listener) String() string { return listenerNames[l] }

// Wrap puts the door in front of next, for a listener of kind l. Each call
// makes the listener its own pool of streams, so streams on one listener
// never take places on another.
func (d *Door) Wrap(next http.Handler, l Listener) http.Handler {
	pool := func(cfg StreamConfig) *gate.Streams {
		return gate.NewStreams(cfg.Max, cfg.PerPrefix, cfg.PerDevice, cfg.PerToken)
	}
	streams := pool(d.cfg.PublicStreams)
	// Staff's streams (boards logged in as staff) have the internal pool's
	// sizes: on the internal listener all of them, on the only listener a
	// pool of their own, so that the public cannot crowd out the boards.
	staffStreams := streams
	switch l {
	case InternalListener:
		streams = pool(d.cfg.InternalStreams)
		staffStreams = streams
	case SingleListener:
		staffStreams = pool(d.cfg.InternalStreams)
	}
	open := d.m.streams.WithLabelValues(l.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := d.classify(r, l)
		if c.account != 0 && d.Observe != nil {
			d.Observe(c.account, c.device, c.prefix, d.now())
		}
		if c.lane != Staff {
			if k, retry, limited := d.limited(r, c); limited {
				if k == byDevice && c.device == "" {
					// Refused from the network's device-less share (its
					// prefix allowed it): the client gets a device of its
					// own, so that a device-less neighbour cannot keep it
					// out for good.
					d.newDevice(w, r)
				}
				d.refuse(w, r, c.lane, limitReasons[k], retry)
				return
			}
			if d.Challenged(r) {
				if reason := d.checkChallenge(r, c.device); reason != "" {
					d.refuse(w, r, c.lane, reason, 0)
					return
				}
			}
			if c.device == "" {
				// A client's first request: from its next one on, it has a
				// device allowance of its own instead of a share of its
				// network's device-less one.
				d.newDevice(w, r)
			}
		}
		if d.Streamed(r) {
			// A stream takes a place in its listener's stream pool, never
			// one of its lane's: it stays open for as long as a board runs.
			p, device := streams, c.device
			if c.lane == Staff {
				p = staffStreams
			}
			if device == "" && c.lane != Staff {
				device = "none " + c.prefix // as the rate limits count it
			}
			keys := [3]string{c.prefix, device, c.subject}
			if why := p.Acquire(keys[:]...); why != gate.NoRefusal {
				d.refuse(w, r, c.lane, streamReasons[why], streamRetry)
				return
			}
			defer p.Release(keys[:]...)
			open.Inc()
			defer open.Dec()
			d.m.streamsAdmitted.Inc()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), streamKey{}, true)))
			return
		}
		lane := d.lanes[c.lane]
		waited, shed := lane.Acquire(r.Context())
		d.m.wait[c.lane].Observe(waited.Seconds())
		if shed != "" {
			d.refuse(w, r, c.lane, shedReasons[shed], time.Duration(d.laneCfg[c.lane].Deadline))
			return
		}
		defer lane.Release()
		d.m.admitted[c.lane].Inc()
		next.ServeHTTP(w, r)
	})
}

type streamKey struct{}

// InStreamPool reports whether the door admitted the request to its
// listener's stream pool. A streaming handler refuses a request that came
// any other way, so that no spelling of a stream's path can make it hold a
// lane's place.
func InStreamPool(ctx context.Context) bool {
	in, _ := ctx.Value(streamKey{}).(bool)
	return in
}

// streamRetry is the Retry-After of a refused stream: a board's
// EventSource retries by itself, and a few seconds spread the retries.
const streamRetry = 5 * time.Second

// Token returns the request's bearer token, or else the first of the
// TokenCookies it carries; "" when it has none.
func (d *Door) Token(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return tok
	}
	for _, name := range d.TokenCookies {
		if c, err := r.Cookie(name); err == nil {
			return c.Value
		}
	}
	return ""
}

// caller is what the door knows of a request's sender: its lane, its
// account (0 for none), its address prefix, its signed device ("" for
// none) and, for a valid token, whose it is ("account:7", "staff:3").
type caller struct {
	lane    Lane
	account int64
	prefix  string
	device  string
	subject string
}

// classify reads the token's claims, which Claims checks without the
// database (signature, expiry, revocation): a token that fails them, or a
// staff token on the public listener, counts as none. On the internal
// listener every request is in the staff lane; its device and valid token
// still name it, for the stream pool's caps.
func (d *Door) classify(r *http.Request, l Listener) caller {
	c := caller{lane: Public, prefix: ClientPrefix(r), device: d.Device(r)}
	if l == InternalListener {
		c.lane = Staff
	}
	tok := d.Token(r)
	if tok == "" {
		return c
	}
	kind, id, ok := d.claims(tok)
	switch {
	case ok && kind == "staff" && l != PublicListener:
		c.lane, c.subject = Staff, "staff:"+strconv.FormatInt(id, 10)
	case ok && kind == "account" && l != InternalListener:
		c.lane, c.account, c.subject = Patient, id, "account:"+strconv.FormatInt(id, 10)
	}
	return c
}

// limited applies the account, device and address-prefix limits. Every
// client without a signed device — none sent, or a made-up one — shares one
// device's allowance with the others of its network: not sending a device
// must not buy more than having one. A signed device is counted before its
// network, so that one busy phone cannot spend its Wi-Fi's allowance; the
// device-less share after, so that a refusal from it (which hands the
// client a device) has been paid for from the network's allowance.
func (d *Door) limited(r *http.Request, c caller) (limitKind, time.Duration, bool) {
	prefix := c.prefix
	type check struct {
		kind limitKind
		key  string
	}
	checks := make([]check, 0, 3)
	if c.account != 0 {
		key := strconv.FormatInt(c.account, 10)
		checks = append(checks, check{byAccount, key})
		if lim := d.reducedFor(c.account); lim != nil {
			if ok, retry, err := lim.Allow(r.Context(), key); err == nil && !ok {
				return byAccount, retry, true
			}
		}
	}
	if c.device != "" {
		checks = append(checks, check{byDevice, c.device}, check{byPrefix, prefix})
	} else {
		checks = append(checks, check{byPrefix, prefix}, check{byDevice, "none " + prefix})
	}
	for _, ck := range checks {
		if ck.key == "" {
			continue
		}
		if ok, retry := d.allow(r.Context(), ck.kind, ck.key); !ok {
			return ck.kind, retry, true
		}
	}
	return 0, 0, false
}

func (d *Door) allow(ctx context.Context, k limitKind, key string) (bool, time.Duration) {
	ok, retry, err := d.limits[k].Allow(ctx, key)
	if err != nil { // the shared limiter falls back by itself; a local one cannot fail
		d.log.Error("rate limit", "limit", limitNames[k], "err", err)
		return true, 0
	}
	return ok, retry
}

// LimitPatient applies the per-patient limit to a request naming a patient
// (a booking, draw entry or waitlist request; the patient is in its body).
func (d *Door) LimitPatient(ctx context.Context, patientID int64) error {
	ok, retry := d.allow(ctx, byPatient, strconv.FormatInt(patientID, 10))
	if ok {
		return nil
	}
	d.m.limitedPatient.Inc()
	return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry,
		Message: fmt.Sprintf("too many requests for this patient; try again in %d s", RetrySeconds(retry))}
}

// LimitClient applies the per-account limit to a FHIR system client's
// request (internal/fhir: $hold, $book), keyed by its client id apart from
// the accounts' numbers: the internal listener puts every request in the
// staff lane, so the door's own account check never sees a system's.
func (d *Door) LimitClient(ctx context.Context, client string) error {
	ok, retry := d.allow(ctx, byAccount, "fhir-client:"+client)
	if ok {
		return nil
	}
	return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry,
		Message: fmt.Sprintf("too many requests from this client; try again in %d s", RetrySeconds(retry))}
}

// addrPrefix is the network a client address belongs to for limits and
// risk signals: its IPv4 /24 or IPv6 /56, as text.
func addrPrefix(a netip.Addr) string {
	bits := 24
	if a.Is6() {
		bits = 56
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// DeviceCookie is the cookie naming a client device; API clients may send
// the same value in the X-Device-ID header.
const DeviceCookie = "fairslot_device"

// Device returns the client's device ID if the server signed it, else "".
// An unsigned value is ignored: a bot that makes up a new device for every
// request gets no fresh allowance from it.
func (d *Door) Device(r *http.Request) string {
	v := r.Header.Get("X-Device-ID")
	if c, err := r.Cookie(DeviceCookie); err == nil {
		v = c.Value
	}
	if _, ok := d.devices.Verify(v); !ok {
		return ""
	}
	return v
}

// EnsureDevice returns the request's signed device, issuing a new one in a
// cookie when it has none.
func (d *Door) EnsureDevice(w http.ResponseWriter, r *http.Request) string {
	if v := d.Device(r); v != "" {
		return v
	}
	return d.newDevice(w, r)
}

// newDevice issues a new signed device in a cookie (API clients read it
// from Set-Cookie, or take the one a challenge names). The cookie is Secure
// whenever the request came over TLS — the server's own or a trusted
// proxy's — so that it is never then sent over plain HTTP.
func (d *Door) newDevice(w http.ResponseWriter, r *http.Request) string {
	b := make([]byte, 16)
	rand.Read(b)
	v := d.devices.Sign(b)
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: v, Path: "/", MaxAge: 400 * 24 * 3600,
		HttpOnly: true, Secure: HTTPS(r), SameSite: http.SameSiteLaxMode})
	return v
}

// Challenge header names: the issued challenge and its solution.
const (
	ChallengeHeader = "X-Fairslot-Challenge"
	SolutionHeader  = "X-Fairslot-Solution"
)

// Issue gives the client a challenge, bound to its device (a new device
// cookie if it has none), as hard as the patient lane's load and the
// account's risk (recent risk events) make it.
func (d *Door) Issue(w http.ResponseWriter, r *http.Request, risk int) (gate.Challenge, string) {
	device := d.EnsureDevice(w, r)
	bits := gate.Difficulty(d.cfg.ChallengeBits, d.cfg.ChallengeLoadBits, d.lanes[Patient].Load(), risk)
	d.m.challenges.WithLabelValues("issued").Inc()
	return d.ch.Issue(device, bits, d.now()), device
}

var challengeReasons = map[error]string{
	gate.ErrNoChallenge: "challenge_missing", gate.ErrForged: "challenge_forged", gate.ErrExpired: "challenge_expired",
	gate.ErrWrongDevice: "challenge_wrong_device", gate.ErrUnsolved: "challenge_unsolved",
	gate.ErrReplayed: "challenge_replayed", gate.ErrSpentFull: "challenge_busy",
}

// checkChallenge verifies the request's solved challenge for its signed
// device; it returns the refusal reason, or "" to let the request on.
func (d *Door) checkChallenge(r *http.Request, device string) string {
	_, err := d.ch.Check(r.Context(), r.Header.Get(ChallengeHeader), r.Header.Get(SolutionHeader), device, d.now())
	if err == nil {
		d.m.challenges.WithLabelValues("solved").Inc()
		return ""
	}
	d.m.challenges.WithLabelValues("failed").Inc()
	if reason, ok := challengeReasons[err]; ok {
		return reason
	}
	d.log.Error("challenge check", "err", err)
	return "challenge_busy"
}

// refusal is one way of refusing a request in one lane, made once: its
// counter, status and body.
type refusal struct {
	counter prometheus.Counter
	status  int
	body    []byte
	page    []byte // the same for a browser's page request, in the three languages
}

// RetrySeconds rounds a wait up to whole seconds for Retry-After.
func RetrySeconds(d time.Duration) int { return max(int((d+time.Second-1)/time.Second), 1) }

var (
	jsonType = []string{"application/json; charset=utf-8"}
	htmlType = []string{"text/html; charset=utf-8"}
	noStore  = []string{"no-store"}
	noCSP    = []string{"default-src 'none'"}
)

// refuse answers a refused request: a fixed small body, Retry-After where a
// retry can help, and a counter; the log gets a summary now and then.
func (d *Door) refuse(w http.ResponseWriter, r *http.Request, lane Lane, reason string, retry time.Duration) {
	f := d.refusals[lane][reason]
	f.counter.Inc()
	h := w.Header()
	body := f.body
	h["Content-Type"], h["Cache-Control"] = jsonType, noStore
	if strings.Contains(r.Header.Get("Accept"), "text/html") { // a page the browser navigates to
		body = f.page
		h["Content-Type"], h["Content-Security-Policy"] = htmlType, noCSP
	}
	if f.status != http.StatusPreconditionRequired {
		h["Retry-After"] = []string{strconv.Itoa(RetrySeconds(retry))}
	}
	w.WriteHeader(f.status)
	w.Write(body)
	d.noteRefusal()
}

func (d *Door) noteRefusal() {
	n := d.refusedSinceLog.Add(1)
	now := d.now().UnixNano()
	last := d.lastLog.Load()
	if now-last < int64(logEvery) || !d.lastLog.CompareAndSwap(last, now) {
		return
	}
	n = d.refusedSinceLog.Swap(0)
	d.log.Warn("front door refused requests (see fairslot_admission_total for the reasons)", "refused", n,
		"since", time.Duration(now-last).Round(time.Second).String())
}
