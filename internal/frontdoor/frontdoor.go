// Package frontdoor is the admission layer every request passes before it
// reaches a handler: it puts the request in a lane (staff, patient, public),
// applies the rate limits, asks public booking and entry requests for a
// solved proof-of-work challenge, and admits it only if its lane has room
// within the lane's queueing deadline. It decides from the listener, the
// headers and the signed credentials alone: it never reads a request body
// and never touches the database, so refusing a request costs next to
// nothing and a flood cannot reach the storage. It must never log personal
// data or keep per-request state past the request.
package frontdoor

import (
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
)

// Lane is a class of traffic with its own share of the server.
type Lane int

// The lanes, in the order they are protected: staff, kiosk and display
// traffic is never shed for anyone else's; then patients signed in; then
// everything anonymous.
const (
	Staff Lane = iota
	Patient
	Public
	lanes
)

var laneNames = [lanes]string{"staff", "patient", "public"}

func (l Lane) String() string { return laneNames[l] }

// LaneConfig sizes one lane.
type LaneConfig struct {
	Active   int               `json:"active"`   // requests running at once
	Queue    int               `json:"queue"`    // requests waiting for a place
	Deadline fairslot.Duration `json:"deadline"` // longest wait before a 503
}

// StreamConfig sizes one listener's pool of long-lived streams (the
// display's server-sent events): at most Max open at once, and at most
// PerPrefix from one address prefix, PerDevice from one signed device and
// PerToken for one signed-in account or staff member. 0 means no cap of
// that kind (Max always applies).
type StreamConfig struct {
	Max       int `json:"max"`
	PerPrefix int `json:"per_prefix"`
	PerDevice int `json:"per_device"`
	PerToken  int `json:"per_token"`
}

// Limit is a rate limit as configured: Rate requests per Per, bursts of Burst.
type Limit struct {
	Rate  int               `json:"rate"`
	Per   fairslot.Duration `json:"per"`
	Burst int               `json:"burst"`
}

func (l Limit) gate() gate.Limit {
	return gate.Limit{Rate: l.Rate, Per: time.Duration(l.Per), Burst: l.Burst}
}

// Config is the front door's configuration.
type Config struct {
	StaffLane   LaneConfig `json:"staff_lane"`
	PatientLane LaneConfig `json:"patient_lane"`
	PublicLane  LaneConfig `json:"public_lane"`
	// Rate limits per signed-in account, per patient (booking, entry and
	// waitlist requests), per device cookie and per address prefix (IPv4
	// /24, IPv6 /56: a hospital's Wi-Fi puts many patients behind one).
	AccountLimit Limit `json:"account_limit"`
	PatientLimit Limit `json:"patient_limit"`
	DeviceLimit  Limit `json:"device_limit"`
	PrefixLimit  Limit `json:"prefix_limit"`
	// MaxKeys bounds how many keys each in-memory limiter remembers.
	MaxKeys int `json:"max_keys"`
	// Redis, when set (redis://host:port/db), keeps the limits and spent
	// challenges in Redis so that several nodes share them.
	Redis string `json:"redis"`
	// RedisTimeout bounds every call to Redis on the request path, and each
	// probe; a run of calls that fail or time out (or a failed probe)
	// switches the node to its own limits until a probe, every
	// RedisProbeEvery, succeeds.
	RedisTimeout    fairslot.Duration `json:"redis_timeout"`
	RedisProbeEvery fairslot.Duration `json:"redis_probe_every"`
	// Challenges: the difficulty in bits when the patient lane is idle, how
	// many bits its load adds, how long a challenge lives, how many spent
	// ones are remembered in memory.
	ChallengeBits     int               `json:"challenge_bits"`
	ChallengeLoadBits int               `json:"challenge_load_bits"`
	ChallengeTTL      fairslot.Duration `json:"challenge_ttl"`
	ChallengeSpentMax int               `json:"challenge_spent_max"`
	// MaxConns caps the public listener's open connections.
	MaxConns int `json:"max_conns"`
	// Streams: the pools of long-lived streams, one per listener, apart
	// from the lanes. PublicStreams serves the public (or only) listener,
	// InternalStreams the internal one (boards).
	PublicStreams   StreamConfig `json:"public_streams"`
	InternalStreams StreamConfig `json:"internal_streams"`
}

// Default returns limits sized for a 2-core server: staff requests run 32
// at once and may wait 2 s; patients' 4 at once and public ones 2, waiting
// at most 500 ms and 200 ms — beyond that a flood is answered at once.
// Streams have pools of their own: 512 on the public listener (16 per
// network, 2 per device, 4 per account), 256 on the internal one (4 per
// device, 64 per staff login: boards may share a login).
func Default() Config {
	ms := func(n int) fairslot.Duration { return fairslot.Duration(time.Duration(n) * time.Millisecond) }
	return Config{
		StaffLane:         LaneConfig{Active: 32, Queue: 256, Deadline: ms(2000)},
		PatientLane:       LaneConfig{Active: 4, Queue: 64, Deadline: ms(500)},
		PublicLane:        LaneConfig{Active: 2, Queue: 32, Deadline: ms(200)},
		AccountLimit:      Limit{Rate: 5, Per: ms(1000), Burst: 20},
		PatientLimit:      Limit{Rate: 2, Per: ms(1000), Burst: 10},
		DeviceLimit:       Limit{Rate: 10, Per: ms(1000), Burst: 30},
		PrefixLimit:       Limit{Rate: 100, Per: ms(1000), Burst: 200},
		MaxKeys:           200_000,
		ChallengeBits:     12,
		ChallengeLoadBits: 4,
		ChallengeTTL:      fairslot.Duration(2 * time.Minute),
		ChallengeSpentMax: 200_000,
		MaxConns:          4096,
		PublicStreams:     StreamConfig{Max: 512, PerPrefix: 16, PerDevice: 2, PerToken: 4},
		InternalStreams:   StreamConfig{Max: 256, PerDevice: 4, PerToken: 64},
		RedisTimeout:      ms(50),
		RedisProbeEvery:   ms(1000),
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	for name, l := range map[string]LaneConfig{"staff_lane": c.StaffLane, "patient_lane": c.PatientLane, "public_lane": c.PublicLane} {
		if l.Active < 1 || l.Queue < 0 || l.Deadline <= 0 {
			return fmt.Errorf("config: front_door.%s needs active ≥ 1, queue ≥ 0 and a positive deadline", name)
		}
	}
	for name, l := range map[string]Limit{"account_limit": c.AccountLimit, "patient_limit": c.PatientLimit, "device_limit": c.DeviceLimit, "prefix_limit": c.PrefixLimit} {
		if l.Rate < 1 || l.Per <= 0 || l.Burst < 1 {
			return fmt.Errorf("config: front_door.%s needs rate ≥ 1, a positive per and burst ≥ 1", name)
		}
	}
	for name, s := range map[string]StreamConfig{"public_streams": c.PublicStreams, "internal_streams": c.InternalStreams} {
		if s.Max < 1 || s.PerPrefix < 0 || s.PerDevice < 0 || s.PerToken < 0 {
			return fmt.Errorf("config: front_door.%s needs max ≥ 1 and caps ≥ 0 (0: no cap)", name)
		}
	}
	switch {
	case c.MaxKeys < 64 || c.ChallengeSpentMax < 64:
		return fmt.Errorf("config: front_door.max_keys and challenge_spent_max must be at least 64")
	case c.ChallengeBits < 0 || c.ChallengeBits > gate.MaxBits || c.ChallengeLoadBits < 0:
		return fmt.Errorf("config: front_door.challenge_bits must be 0 to %d, challenge_load_bits ≥ 0", gate.MaxBits)
	case c.ChallengeTTL < fairslot.Duration(10*time.Second):
		return fmt.Errorf("config: front_door.challenge_ttl must be at least 10s")
	case c.MaxConns < 1:
		return fmt.Errorf("config: front_door.max_conns must be at least 1")
	case c.Redis != "" && !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://"):
		return fmt.Errorf("config: front_door.redis must be a redis:// URL")
	case c.RedisTimeout < fairslot.Duration(time.Millisecond) || c.RedisTimeout > fairslot.Duration(time.Second):
		// Past a second the deadline defeats its purpose: the requests
		// that meet a hung Redis first would wait that long.
		return fmt.Errorf("config: front_door.redis_timeout must be 1ms to 1s")
	case c.RedisProbeEvery < fairslot.Duration(100*time.Millisecond) || c.RedisProbeEvery > fairslot.Duration(time.Minute) || c.RedisProbeEvery <= c.RedisTimeout:
		return fmt.Errorf("config: front_door.redis_probe_every must be 100ms to 1m, and longer than redis_timeout")
	}
	return nil
}
