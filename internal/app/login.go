package app

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
)

// A staff password check is argon2id: 19 MiB and tens of milliseconds of
// CPU, on purpose. Inside the single write transaction it held every
// booking behind it (issue 11: the write median went from 23 ms to 609 ms
// with 8 login workers), so StaffLogin reads the account in a read
// transaction, checks the password outside any transaction and writes the
// token in a short write afterwards. A bounded number of checks run at
// once, so a burst of logins can neither take every core nor grow memory
// without bound; and failed logins are throttled before any hashing — per
// username on one network, per username anywhere (looser) and per address
// prefix — so guessing costs the guesser time and the server nothing,
// while a stranger's guesses from their own network cannot keep the desk
// out from the hospital's. One username's passwords are checked one at a
// time, and the throttle is looked at again once a check's turn has come,
// so a burst of guesses sent at once gets no more checks than guesses sent
// one by one. How many failures lock an account out is the staff-identity
// policy's business, not this throttle's. The throttle is per node.

// StaffLoginLimits bound staff logins. The zero value uses the defaults.
type StaffLoginLimits struct {
	// Hashing is how many password checks may run at once (default
	// max(1, GOMAXPROCS/2): the other half of the CPUs serve bookings).
	Hashing int
	// HashWait is how long a login waits for a place to check its password
	// before it is refused with Unavailable (default 2s).
	HashWait time.Duration
	// PerUser limits failed logins per username from one address prefix,
	// PerName per username from anywhere, PerAddr per address prefix
	// (defaults: bursts of 5, 30 and 30, then one every 3 minutes, one every
	// 30 seconds and one every 30 seconds). Successful logins are not
	// counted.
	PerUser, PerName, PerAddr gate.Limit
	// MaxKeys bounds how many usernames and prefixes each limit remembers
	// (default 10,000).
	MaxKeys int
	// Strangers bounds the password checks, node-wide, of attempts from
	// address prefixes where no staff password was right in the last
	// TrustFor (default 5 a second, bursts of 50; TrustFor 8h): a flood of
	// guesses from many networks — each under every per-prefix limit —
	// then costs one hash in a few and is refused cheaply otherwise, so it
	// cannot take a core from bookings, while the hospital's own networks
	// sign in as before (issue 12, item 3).
	Strangers gate.Limit
	TrustFor  time.Duration

	once                sync.Once
	places              chan struct{}
	users, names, addrs *gate.Memory
	strangers           *gate.Memory
	trusted             *gate.Memory // prefixes with a right password lately: Peek is false while one is remembered
	// checking holds the usernames whose password is being checked.
	mu       sync.Mutex
	checking map[string]struct{}
	// check is the password check: CheckPassword, or a test's hook.
	check func(hash, password string) bool
}

// errLoginBusy refuses a login that found every password-check place taken.
var errLoginBusy = &fairslot.Error{Kind: fairslot.Unavailable, RetryAfter: 2 * time.Second,
	Message: "too many logins at once; retry in a few seconds"}

func (l *StaffLoginLimits) init() {
	l.once.Do(func() {
		if l.Hashing <= 0 {
			l.Hashing = max(1, runtime.GOMAXPROCS(0)/2)
		}
		if l.HashWait <= 0 {
			l.HashWait = 2 * time.Second
		}
		if l.PerUser.Rate <= 0 {
			l.PerUser = gate.Limit{Rate: 5, Per: 15 * time.Minute, Burst: 5}
		}
		if l.PerName.Rate <= 0 {
			l.PerName = gate.Limit{Rate: 30, Per: 15 * time.Minute, Burst: 30}
		}
		if l.PerAddr.Rate <= 0 {
			l.PerAddr = gate.Limit{Rate: 30, Per: 15 * time.Minute, Burst: 30}
		}
		if l.MaxKeys <= 0 {
			l.MaxKeys = 10_000
		}
		if l.Strangers.Rate <= 0 {
			l.Strangers = gate.Limit{Rate: 5, Per: time.Second, Burst: 50}
		}
		if l.TrustFor <= 0 {
			l.TrustFor = 8 * time.Hour
		}
		if l.check == nil {
			l.check = CheckPassword
		}
		l.places, l.checking = make(chan struct{}, l.Hashing), map[string]struct{}{}
		l.users, l.names, l.addrs = gate.NewMemory(l.PerUser, l.MaxKeys), gate.NewMemory(l.PerName, l.MaxKeys), gate.NewMemory(l.PerAddr, l.MaxKeys)
		l.strangers = gate.NewMemory(l.Strangers, 1)
		// One event per TrustFor, burst one: after a right password the
		// prefix's bucket is empty (Peek false) for TrustFor.
		l.trusted = gate.NewMemory(gate.Limit{Rate: 1, Per: l.TrustFor, Burst: 1}, l.MaxKeys)
	})
}

// throttled refuses an attempt whose username (on its network, or
// anywhere) or address prefix has used up its failed logins, spending
// nothing.
func (l *StaffLoginLimits) throttled(username, addr string, now time.Time) error {
	l.init()
	ok, retry := true, time.Duration(0)
	for _, c := range []struct {
		m   *gate.Memory
		key string
	}{{l.users, username + " " + addr}, {l.names, username}, {l.addrs, addr}} {
		if c.key == "" {
			continue
		}
		if cok, cretry := c.m.Peek(c.key, now); !cok {
			ok, retry = false, max(retry, cretry)
		}
	}
	if ok {
		return nil
	}
	return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: retry, Key: "error.staff.wait", Args: []any{roundUp(retry)},
		Message: "too many failed logins for this username or network; wait before trying again"}
}

// failed charges a failed login to its username (on its network and
// anywhere) and its address prefix.
func (l *StaffLoginLimits) failed(username, addr string, now time.Time) {
	l.init()
	l.users.Allow(username+" "+addr, now)
	l.names.Allow(username, now)
	if addr != "" {
		l.addrs.Allow(addr, now)
	}
}

// errStrangers refuses an attempt from an unfamiliar network once the
// node-wide budget of their hashes is spent.
func errStrangers(retry time.Duration) error {
	return &fairslot.Error{Kind: fairslot.Limited, RetryAfter: max(retry, time.Second), Key: "error.staff.strangers",
		Message: "too many sign-in attempts from unfamiliar networks; retry in a moment"}
}

// strangerRefused is the cheap look before any read: an attempt from an
// unfamiliar network when the strangers' budget is spent.
func (l *StaffLoginLimits) strangerRefused(addr string, now time.Time) error {
	l.init()
	if known, _ := l.trusted.Peek(addr, now); !known && addr != "" {
		return nil
	}
	if ok, retry := l.strangers.Peek("", now); !ok {
		return errStrangers(retry)
	}
	return nil
}

// errChecking refuses a login while another one for the same username is
// being checked.
var errChecking = &fairslot.Error{Kind: fairslot.Limited, RetryAfter: time.Second, Key: "error.staff.checking",
	Message: "a login for this username is being checked; retry in a moment"}

// checkPassword checks a username's password against a stored hash once a
// place is free, waiting at most HashWait for one: one check at a time per
// username, and the throttle looked at again when the check's turn comes
// (the checks before it may have been failures).
func (l *StaffLoginLimits) checkPassword(ctx context.Context, username, addr, hash, password string, now func() time.Time) (bool, error) {
	l.init()
	l.mu.Lock()
	if _, busy := l.checking[username]; busy {
		l.mu.Unlock()
		return false, errChecking
	}
	l.checking[username] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.checking, username)
		l.mu.Unlock()
	}()
	select {
	case l.places <- struct{}{}:
	default:
		t := time.NewTimer(l.HashWait)
		defer t.Stop()
		select {
		case l.places <- struct{}{}:
		case <-t.C:
			return false, errLoginBusy
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	defer func() { <-l.places }()
	if err := l.throttled(username, addr, now()); err != nil {
		return false, err
	}
	t := now()
	if stranger, _ := l.trusted.Peek(addr, t); stranger || addr == "" {
		if ok, retry := l.strangers.Allow("", t); !ok {
			return false, errStrangers(retry)
		}
	}
	ok := l.check(hash, password)
	if ok && addr != "" {
		l.trusted.Allow(addr, t)
	}
	return ok, nil
}
