package fhir

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// The token endpoint is the facade's one route an outsider can use
// without a token, and each request it takes costs a signature check, a
// read and, when granted, a write. It has limits of its own, on the front
// door's limiter (gate.Memory, GCRA with a bounded key table), keyed as the
// staff login's throttle is: by the client the request claims and by the
// requester's address prefix. Every refusal is audited
// (fhir.token_refused), within a node-wide budget, so that a flood cannot
// grow the audit log without bound: a source the limits refuse gets one
// summary record per window rather than one per request, and once the
// budget is spent one record per window says how many refusals went
// unrecorded. The limits and the budget are per node.

// TokenLimits bound the token endpoint. The zero value uses the defaults.
type TokenLimits struct {
	// PerClient limits the requests that claim one client id (the
	// assertion's iss, read before its signature is checked), from any
	// address; PerAddr the requests from one address prefix
	// (frontdoor.ClientPrefix), whatever they claim. Every request counts,
	// granted or refused. Defaults: PerClient bursts of 20, then one a
	// minute; PerAddr bursts of 60, then one every 10 seconds. A client
	// asking for a token every few minutes (a token lives 5) is never
	// limited.
	PerClient, PerAddr gate.Limit
	// MaxKeys bounds how many client ids and prefixes each limit remembers
	// (default 10,000).
	MaxKeys int
	// Records is the node-wide budget of audit records of refused requests
	// (default bursts of 100, then 10 a minute); SummaryEvery the window of
	// the summary records (default 10 minutes).
	Records      gate.Limit
	SummaryEvery time.Duration

	once                    sync.Once
	clients, addrs, records *gate.Memory
	summaries               *gate.Memory // one summary per source per window
	unrecorded              atomic.Int64 // refusals not recorded since the last budget summary
}

func (l *TokenLimits) init() {
	l.once.Do(func() {
		if l.PerClient.Rate <= 0 {
			l.PerClient = gate.Limit{Rate: 60, Per: time.Hour, Burst: 20}
		}
		if l.PerAddr.Rate <= 0 {
			l.PerAddr = gate.Limit{Rate: 360, Per: time.Hour, Burst: 60}
		}
		if l.MaxKeys <= 0 {
			l.MaxKeys = 10_000
		}
		if l.Records.Rate <= 0 {
			l.Records = gate.Limit{Rate: 600, Per: time.Hour, Burst: 100}
		}
		if l.SummaryEvery <= 0 {
			l.SummaryEvery = 10 * time.Minute
		}
		l.clients, l.addrs = gate.NewMemory(l.PerClient, l.MaxKeys), gate.NewMemory(l.PerAddr, l.MaxKeys)
		l.records = gate.NewMemory(l.Records, 1)
		l.summaries = gate.NewMemory(gate.Limit{Rate: 1, Per: l.SummaryEvery, Burst: 1}, l.MaxKeys)
	})
}

// limitedError refuses a request over one of the token endpoint's limits.
type limitedError struct {
	by    string // "client" or "address"
	retry time.Duration
}

func (e *limitedError) Error() string { return "too many token requests by " + e.by }

// allow charges a request to its address prefix (by "address") or to the
// client it claims (by "client"); an empty key is not limited.
func (l *TokenLimits) allow(by, key string, now time.Time) error {
	l.init()
	if key == "" {
		return nil
	}
	m := l.addrs
	if by == "client" {
		m = l.clients
	}
	if ok, retry := m.Allow(key, now); !ok {
		return &limitedError{by, retry}
	}
	return nil
}

// wellFormedClientID reports whether s has the form of the client ids
// fairslot issues (app.AddFHIRClient: 16 random bytes, base64url, 22
// characters). Only such a claimed id is used as a key or recorded: an
// outsider's iss may hold anything, a secret pasted by mistake included.
func wellFormedClientID(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// refusal is what the audit record of a refused token request says.
type refusal struct {
	client, prefix string // the claimed client id (well-formed) and address prefix, or ""
	code, why      string // the OAuth error code and a short reason
	status         int
	limited        *limitedError // set when a limit refused it
}

// recordRefusal audits a refused token request within the budget: a
// request refused by a limit is recorded once per window per source (the
// first of the window, as a summary of those that follow); others once
// each while the node-wide budget lasts. What the budget leaves
// unrecorded is counted, and once per window a record says how many.
func (s *Server) recordRefusal(r *http.Request, f refusal) {
	l := &s.TokenLimits
	l.init()
	now := s.App.Now()
	detail := map[string]string{"error": f.code, "reason": f.why, "status": strconv.Itoa(f.status)}
	if f.limited != nil {
		key := f.limited.by + " " + f.prefix
		if f.limited.by == "client" {
			key = f.limited.by + " " + f.client
		}
		if ok, _ := l.summaries.Allow(key, now); !ok {
			l.unrecorded.Add(1)
			return // this window's summary of the source is written
		}
		detail["summary"] = fmt.Sprintf("the %s limit refuses this source; its refusals until %s are not recorded one by one",
			f.limited.by, now.Add(l.SummaryEvery).UTC().Format(time.RFC3339))
	}
	if ok, _ := l.records.Allow("", now); !ok {
		l.unrecorded.Add(1)
		if ok, _ := l.summaries.Allow("budget", now); !ok {
			return
		}
		// The budget's own summary, once per window, outside the budget.
		detail = map[string]string{"error": f.code, "reason": "audit budget of refused token requests spent",
			"summary": fmt.Sprintf("refused token requests not recorded since the last such record: %d; the next such record comes no sooner than %s",
				l.unrecorded.Swap(0), now.Add(l.SummaryEvery).UTC().Format(time.RFC3339))}
		f.client, f.prefix = "", "" // the record is of many requests, not of this one's source
	} else if n := l.unrecorded.Load(); n > 0 && f.limited == nil {
		detail["unrecorded_before"] = strconv.FormatInt(l.unrecorded.Swap(0), 10)
	}
	subject := "fhir:token"
	if f.client != "" {
		detail["client"] = f.client
		subject = "fhir-client:" + f.client
	}
	if h := s.App.ClientHash("addr", f.prefix); h != "" {
		detail["prefix"] = h // a keyed hash, as risk events carry it: the audit log holds no addresses
	}
	a := app.Actor{RequestID: httpapi.RequestID(r)} // anonymous: the claim is not an identity
	if err := s.App.AuditFHIRTokenRefused(r.Context(), a, subject, detail); err != nil {
		s.API.Log.Error("fhir token refusal audit", "err", err, "request", a.RequestID)
	}
}

// clientPrefix is the requester's address prefix, as the front door and
// the login throttles key on it.
func clientPrefix(r *http.Request) string { return frontdoor.ClientPrefix(r) }
