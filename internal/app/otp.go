package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// One-time login codes that an attacker cannot use against the owner
// (issue 13, item 5). Before, every limit was the phone's: five codes an
// hour and a minute between two, five wrong guesses voiding the newest
// code — so a stranger who knew a phone number could keep its owner out
// by asking for codes and guessing wrong. Now:
//   - asking for codes is limited per phone *and requester* (a keyed hash
//     of the device cookie and the address prefix: five an hour, one a
//     minute), per phone and address prefix, and per address prefix over
//     all phones (OTPLimits); the
//     phone's own cap, counted in the database across nodes, is high
//     (loginCodesPerPhoneHour) and past the fifth code of the hour asks
//     for a growing gap, one more minute for each code;
//   - every code stays valid until it expires, so a new code — anyone's —
//     does not void the owner's;
//   - a wrong guess uses up a try of the guesser's own code only; someone
//     who asked for no valid code is a stranger to the phone, whose guesses
//     are counted per phone and per requester and refused, before any code
//     is compared, once either budget is spent;
//   - the owner is told by a message through the outbox when a stranger
//     guesses wrong or is refused codes, at most once per OTPLimits.WarnEvery.
//
// The in-memory limits are per node, as the staff login throttle's.
const (
	loginCodeAttempts      = 5  // wrong guesses by its requester void a code
	loginCodesPerPhoneHour = 30 // codes to one phone in an hour, from anyone
	loginCodesFreePerHour  = 5  // past these, each code to the phone waits a minute more
)

// OTPLimits bound login-code requests and strangers' guesses. The zero
// value uses the defaults.
type OTPLimits struct {
	// PerRequester limits codes per phone and requester (default 5 an
	// hour, Gap one a minute); PerPhonePrefix per phone and address prefix
	// whatever the device (default 10 an hour: a new device cookie is free
	// to get); PerAddr per address prefix over all phones (default 300 an
	// hour, bursts of 60 — carrier NAT puts many patients behind one).
	PerRequester, Gap, PerPhonePrefix, PerAddr gate.Limit
	// StrangerPerPhone and StrangerPerRequester limit wrong guesses by
	// strangers to a phone (default 10 an hour per phone, 5 an hour per
	// requester and phone).
	StrangerPerPhone, StrangerPerRequester gate.Limit
	// WarnEvery is the least time between two warnings to one phone
	// (default 6h).
	WarnEvery time.Duration
	MaxKeys   int // each limit's memory (default 100,000)

	once                      sync.Once
	requesters, gaps, addrs   *gate.Memory
	phonePrefixes             *gate.Memory
	strangers, strangerByReqs *gate.Memory
	warned                    *gate.Memory
}

func (l *OTPLimits) init() {
	l.once.Do(func() {
		def := func(v *gate.Limit, d gate.Limit) {
			if v.Rate <= 0 {
				*v = d
			}
		}
		def(&l.PerRequester, gate.Limit{Rate: 5, Per: time.Hour, Burst: 5})
		def(&l.Gap, gate.Limit{Rate: 1, Per: time.Minute, Burst: 1})
		def(&l.PerPhonePrefix, gate.Limit{Rate: 10, Per: time.Hour, Burst: 10})
		def(&l.PerAddr, gate.Limit{Rate: 300, Per: time.Hour, Burst: 60})
		def(&l.StrangerPerPhone, gate.Limit{Rate: 10, Per: time.Hour, Burst: 10})
		def(&l.StrangerPerRequester, gate.Limit{Rate: 5, Per: time.Hour, Burst: 5})
		if l.WarnEvery <= 0 {
			l.WarnEvery = 6 * time.Hour
		}
		if l.MaxKeys <= 0 {
			l.MaxKeys = 100_000
		}
		l.requesters, l.gaps, l.addrs = gate.NewMemory(l.PerRequester, l.MaxKeys), gate.NewMemory(l.Gap, l.MaxKeys), gate.NewMemory(l.PerAddr, l.MaxKeys)
		l.phonePrefixes = gate.NewMemory(l.PerPhonePrefix, l.MaxKeys)
		l.strangers, l.strangerByReqs = gate.NewMemory(l.StrangerPerPhone, l.MaxKeys), gate.NewMemory(l.StrangerPerRequester, l.MaxKeys)
		l.warned = gate.NewMemory(gate.Limit{Rate: 1, Per: l.WarnEvery, Burst: 1}, l.MaxKeys)
	})
}

func key(parts ...[]byte) string {
	var s string
	for _, p := range parts {
		s += string(p) + "\x00"
	}
	return s
}

// requestLimited refuses a code request the requester or its prefix has
// used up, spending nothing.
func (l *OTPLimits) requestLimited(phone, req []byte, addr string, now time.Time) error {
	l.init()
	if ok, retry := l.gaps.Peek(key(phone, req), now); !ok {
		return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry, Key: "error.login.gap", Args: []any{roundUp(retry)}, Field: "phone", Message: "a code was sent less than a minute ago; wait before asking again"}
	}
	if ok, retry := l.requesters.Peek(key(phone, req), now); !ok {
		return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry, Key: "error.login.too_many", Args: []any{roundUp(retry)}, Field: "phone", Message: "too many codes requested for this phone; try again later"}
	}
	if addr != "" {
		if ok, retry := l.phonePrefixes.Peek(key(phone, []byte(addr)), now); !ok {
			return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry, Key: "error.login.too_many", Args: []any{roundUp(retry)}, Field: "phone", Message: "too many codes requested for this phone from this network; try again later"}
		}
		if ok, retry := l.addrs.Peek(addr, now); !ok {
			return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry, Key: "error.login.too_many", Args: []any{roundUp(retry)}, Field: "phone", Message: "too many codes requested from this network; try again later"}
		}
	}
	return nil
}

// resendIn is how long the requester must wait before asking for another
// code to the phone (0: now), spending nothing.
func (l *OTPLimits) resendIn(phone, req []byte, now time.Time) time.Duration {
	l.init()
	_, gap := l.gaps.Peek(key(phone, req), now)
	_, hour := l.requesters.Peek(key(phone, req), now)
	return max(gap, hour)
}

// roundUp is d in whole seconds, rounded up: what a page counts down.
func roundUp(d time.Duration) time.Duration { return (d + time.Second - 1).Truncate(time.Second) }

// requested charges a code sent.
func (l *OTPLimits) requested(phone, req []byte, addr string, now time.Time) {
	l.init()
	l.gaps.Allow(key(phone, req), now)
	l.requesters.Allow(key(phone, req), now)
	if addr != "" {
		l.phonePrefixes.Allow(key(phone, []byte(addr)), now)
		l.addrs.Allow(addr, now)
	}
}

// guessLimited refuses a stranger's guess once the phone's or the
// requester's budget is spent.
func (l *OTPLimits) guessLimited(phone, req []byte, _ string, now time.Time) error {
	l.init()
	ok1, r1 := l.strangers.Peek(string(phone), now)
	ok2, r2 := l.strangerByReqs.Peek(key(phone, req), now)
	if ok1 && ok2 {
		return nil
	}
	return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: max(r1, r2), Key: "error.login.stranger", Field: "code",
		Message: "too many wrong codes for this phone; ask for a code on this device first"}
}

// guessed charges a stranger's wrong guess.
func (l *OTPLimits) guessed(phone, req []byte, _ string, now time.Time) {
	l.init()
	l.strangers.Allow(string(phone), now)
	l.strangerByReqs.Allow(key(phone, req), now)
}

// requester keys who asks: the device cookie and the address prefix.
func (s *Service) requester(a Actor) []byte {
	return s.Vault.Hash("login-requester", a.Device+"\x00"+a.Addr)
}

// phoneCodesLimited is the phone's own cap, from anyone, across nodes.
func (s *Service) phoneCodesLimited(ctx context.Context, tx storage.Tx, idx []byte, now time.Time) (error, error) {
	n, err := tx.LoginCodesSince(ctx, idx, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	if n >= loginCodesPerPhoneHour {
		return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: time.Hour, Key: "error.login.too_many", Args: []any{time.Hour}, Field: "phone", Message: "too many codes requested for this phone; try again in an hour"}, nil
	}
	if n >= loginCodesFreePerHour {
		gap := time.Duration(n-loginCodesFreePerHour+1) * time.Minute
		if m, err := tx.LoginCodesSince(ctx, idx, now.Add(-gap)); err != nil || m > 0 {
			return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: gap, Key: "error.login.too_many", Args: []any{gap}, Field: "phone",
				Message: fmt.Sprintf("many codes were asked for this phone; wait %d minutes before asking again", int(gap/time.Minute))}, err
		}
	}
	return nil, nil
}

// warnOwner tells a phone's owner, at most once per WarnEvery, that
// someone else asks for its codes or guesses them; the message goes
// through the outbox in tx, and b is appended to out for the caller to
// report once tx commits.
func (s *Service) warnOwner(ctx context.Context, tx storage.Tx, a Actor, phone string, idx []byte, now time.Time, out *[]notify.Body) error {
	s.OTP.init()
	if ok, _ := s.OTP.warned.Peek(string(idx), now); !ok {
		return nil // charged in sent, once the warning is committed
	}
	// In the owner's language: never the stranger's request's.
	lang, err := s.phoneLanguage(ctx, tx, Actor{}, phone)
	if err != nil {
		return err
	}
	b := notify.Body{Key: notify.KeyLoginWarning, Lang: lang}
	if err := s.enqueue(ctx, tx, phone, b); err != nil {
		return err
	}
	*out = append(*out, b)
	return s.record(ctx, tx, a, "login.owner_warned", "login_phone", map[string]string{"phone": vault.MaskPhone(phone)})
}
