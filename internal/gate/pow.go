package gate

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"time"
)

// A proof-of-work challenge makes each public booking or draw entry cost the
// client a little computation, and more when the lane is busy or the
// account risky: cheap for a person who taps once, expensive for a bot that
// polls every 10 ms. It is stateless until solved — the server keeps nothing
// for an issued challenge, only the nonce of a spent one until it expires —
// signed, bound to the client's device, short-lived and single-use.
//
// A challenge is a token; a solution is a decimal counter such that
// SHA-256(token ":" counter) starts with at least Bits zero bits.

// Challenge is an issued challenge as the client receives it.
type Challenge struct {
	Token   string    `json:"challenge"`
	Bits    int       `json:"bits"`
	Expires time.Time `json:"expires"`
}

// Challenge layout: version, bits, expiry (Unix seconds), nonce, device tag,
// then the MAC over all of it.
const (
	powVersion  = 1
	nonceSize   = 12
	devTagSize  = 8
	macSize     = signedMAC
	payloadSize = 1 + 1 + 8 + nonceSize + devTagSize
	tokenSize   = payloadSize + macSize
	// MaxBits is the hardest challenge ever issued: 2^28 hashes is minutes
	// of a phone's time, so anything above would lock people out.
	MaxBits = 28
	// maxSolution bounds the solution's length (a uint64 in decimal).
	maxSolution = 20
)

// The reasons a solution is refused.
var (
	ErrNoChallenge = errors.New("this request needs a solved challenge: get one from GET /api/v1/challenge")
	ErrForged      = errors.New("the challenge is not one this server issued")
	ErrExpired     = errors.New("the challenge has expired; get a new one")
	ErrWrongDevice = errors.New("the challenge was issued to another device")
	ErrUnsolved    = errors.New("the solution does not solve the challenge")
	ErrReplayed    = errors.New("the challenge was already used; get a new one")
	ErrSpentFull   = errors.New("too many challenges in flight; try again shortly")
)

// Spender remembers spent challenges until they expire, so each is used once.
type Spender interface {
	// Spend records nonce as spent until the given time; fresh is false
	// when it was spent before.
	Spend(ctx context.Context, nonce []byte, until time.Time) (fresh bool, err error)
}

// Challenger issues and checks challenges under one key.
type Challenger struct {
	Key   []byte        // HMAC key, 32 bytes, the same on every node
	TTL   time.Duration // how long a challenge may be solved and used
	Spent Spender
}

// mac is the challenge's tag: the same truncated HMAC as a signed value's.
func (c *Challenger) mac(b []byte) []byte { return Signer(c.Key).tag(b) }

func (c *Challenger) deviceTag(device string) []byte {
	return Signer(c.Key).tag([]byte("device\x00" + device))[:devTagSize]
}

// Issue returns a challenge of the given difficulty for device.
func (c *Challenger) Issue(device string, difficulty int, now time.Time) Challenge {
	difficulty = min(max(difficulty, 0), MaxBits)
	exp := now.Add(c.TTL).Truncate(time.Second)
	b := make([]byte, payloadSize, tokenSize)
	b[0], b[1] = powVersion, byte(difficulty)
	binary.BigEndian.PutUint64(b[2:10], uint64(exp.Unix()))
	rand.Read(b[10 : 10+nonceSize])
	copy(b[10+nonceSize:], c.deviceTag(device))
	b = append(b, c.mac(b)...)
	return Challenge{Token: base64.RawURLEncoding.EncodeToString(b), Bits: difficulty, Expires: exp}
}

// Check accepts a solution once: the challenge must be this server's, for
// this device, unexpired, solved and not used before. It returns the
// challenge's difficulty.
func (c *Challenger) Check(ctx context.Context, token, solution, device string, now time.Time) (difficulty int, err error) {
	if token == "" {
		return 0, ErrNoChallenge
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenSize || b[0] != powVersion || !hmac.Equal(b[payloadSize:], c.mac(b[:payloadSize])) {
		return 0, ErrForged
	}
	difficulty = int(b[1])
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[2:10])), 0)
	if !now.Before(exp) {
		return difficulty, ErrExpired
	}
	if !hmac.Equal(b[10+nonceSize:payloadSize], c.deviceTag(device)) {
		return difficulty, ErrWrongDevice
	}
	if !Solves(token, solution, difficulty) {
		return difficulty, ErrUnsolved
	}
	fresh, err := c.Spent.Spend(ctx, b[10:10+nonceSize], exp)
	if err != nil {
		return difficulty, err
	}
	if !fresh {
		return difficulty, ErrReplayed
	}
	return difficulty, nil
}

// Solves reports whether solution solves token at the given difficulty.
func Solves(token, solution string, difficulty int) bool {
	if solution == "" || len(solution) > maxSolution {
		return false
	}
	if _, err := strconv.ParseUint(solution, 10, 64); err != nil {
		return false
	}
	return zeroBits(sha256.Sum256([]byte(token+":"+solution))) >= difficulty
}

func zeroBits(sum [32]byte) int {
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// Solve finds a solution by trying counters in order: the Go client's
// solver (the browser's is static/pow.js). It gives up when ctx ends.
func Solve(ctx context.Context, token string, difficulty int) (string, error) {
	buf := []byte(token + ":")
	base := len(buf)
	for n := uint64(0); ; n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return "", ctx.Err()
		}
		buf = strconv.AppendUint(buf[:base], n, 10)
		if zeroBits(sha256.Sum256(buf)) >= difficulty {
			return string(buf[base:]), nil
		}
	}
}

// Difficulty is the challenge difficulty for a lane at load (running and
// waiting over capacity, see Lane.Load) and an account at risk level risk
// (its risk decision's PowLevel, 0–4): base when the lane is at most half
// busy, rising by up to loadBits as it fills, by loadBits more once
// requests queue for it, and by 2 bits a risk level up to 8; never above
// MaxBits.
func Difficulty(base, loadBits int, load float64, risk int) int {
	d := float64(base)
	if load > 0.5 {
		d += float64(loadBits) * math.Min((load-0.5)*2, 2)
	}
	return min(int(math.Round(d))+2*min(max(risk, 0), 4), MaxBits)
}

// SpentSet is an in-memory Spender holding at most a fixed number of
// unexpired nonces. When it is full of live ones it refuses (ErrSpentFull)
// rather than forget one, since forgetting would let that challenge be
// replayed; each attempt that finds it full costs a scan of one shard,
// which only a solved challenge can buy.
type SpentSet struct {
	nonces table[[nonceSize]byte] // expiry
	now    func() time.Time
}

// NewSpentSet returns a set holding at most maxKeys nonces.
func NewSpentSet(maxKeys int) *SpentSet {
	s := &SpentSet{now: time.Now}
	s.nonces.init(maxKeys)
	return s
}

// Spend implements Spender.
func (s *SpentSet) Spend(_ context.Context, nonce []byte, until time.Time) (bool, error) {
	var k [nonceSize]byte
	copy(k[:], nonce)
	sh := s.nonces.shard(k)
	now := s.now().UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if exp, ok := sh.m[k]; ok && exp > now {
		return false, nil
	}
	if len(sh.m) >= s.nonces.perCap {
		for n, exp := range sh.m {
			if exp <= now {
				delete(sh.m, n)
			}
		}
		if len(sh.m) >= s.nonces.perCap {
			return false, ErrSpentFull
		}
	}
	sh.m[k] = until.UnixNano()
	return true, nil
}

// Len reports how many nonces the set holds.
func (s *SpentSet) Len() int { return s.nonces.Len() }
