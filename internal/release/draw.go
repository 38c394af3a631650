package release

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/fairslot/fairslot"
)

// How a draw works, and how anyone can check it:
//
//   - When the entry window opens, the hospital publishes Commit(seed), the
//     SHA-256 of a 32-byte random seed kept secret (sealed) until the draw.
//   - Each entry is published only as its salted hash, EntryHash(session,
//     salt, patient ref): the patient sees their own on their booking page.
//   - At the window's close the entries are ordered by HMAC-SHA256(seed,
//     entry hash); in that order, each entry that can be served takes the
//     next open slot; the rest lose, or are skipped with a recorded reason.
//   - The record — commitment, seed, open slots, entry hashes and the
//     allocation in draw order — is published, and Verify recomputes it.
//
// Entering early gives nothing: the order depends only on the seed, which
// nobody knows until the window has closed.

// SeedSize is the size of a draw seed in bytes.
const SeedSize = 32

// Commit returns the published commitment of a draw seed.
func Commit(seed []byte) []byte {
	h := sha256.Sum256(seed)
	return h[:]
}

// EntryHash is an entry's salted hash: it names the entry in the published
// record without saying whose it is.
func EntryHash(sessionID int64, salt []byte, patientRef string) []byte {
	h := sha256.New()
	h.Write([]byte("fairslot draw entry v1\x00"))
	binary.Write(h, binary.BigEndian, sessionID)
	h.Write(salt)
	h.Write([]byte(patientRef))
	return h.Sum(nil)
}

// Order returns the indexes of hashes in draw order under seed: ascending by
// HMAC-SHA256(seed, hash).
func Order(seed []byte, hashes [][]byte) []int {
	type keyed struct {
		key [sha256.Size]byte
		i   int
	}
	ks := make([]keyed, len(hashes))
	mac := hmac.New(sha256.New, seed)
	for i, h := range hashes {
		mac.Reset()
		mac.Write(h)
		mac.Sum(ks[i].key[:0])
		ks[i].i = i
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return bytes.Compare(hashes[a.i], hashes[b.i])
	})
	out := make([]int, len(ks))
	for i, k := range ks {
		out[i] = k.i
	}
	return out
}

// Hex is bytes written as lower-case hex in JSON.
type Hex []byte

func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *Hex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// Record is the published record of a draw.
type Record struct {
	Version    int       `json:"version"`
	SessionID  int64     `json:"session_id"`
	DrawnAt    time.Time `json:"drawn_at"`
	Commitment Hex       `json:"commitment"`
	Seed       Hex       `json:"seed"`
	// Slots are the numbers of the slots open to the draw, in the order
	// winners take them.
	Slots []int `json:"slots"`
	// Entries are the entry hashes, in ascending byte order.
	Entries []Hex `json:"entries"`
	// Allocation is every entry's result, in draw order.
	Allocation []Result `json:"allocation"`
}

// Result is one entry's result in a draw.
type Result struct {
	Entry   Hex              `json:"entry"`
	Rank    int              `json:"rank"`
	Outcome fairslot.Outcome `json:"outcome"`
	Slot    int              `json:"slot,omitempty"`
	Reason  string           `json:"reason,omitempty"`
}

// Verify recomputes a draw from its record and reports the first thing that
// does not match: the seed against the commitment, the order against the
// seed, and the allocation against the order and the open slots.
func Verify(r Record) error {
	if r.Version != 1 {
		return fmt.Errorf("unknown record version %d", r.Version)
	}
	if len(r.Seed) != SeedSize || !bytes.Equal(Commit(r.Seed), r.Commitment) {
		return fmt.Errorf("the seed does not match the published commitment")
	}
	if !slices.IsSortedFunc(r.Entries, func(a, b Hex) int { return bytes.Compare(a, b) }) {
		return fmt.Errorf("the entries are not in ascending order")
	}
	hashes := make([][]byte, len(r.Entries))
	for i, e := range r.Entries {
		if i > 0 && bytes.Equal(e, r.Entries[i-1]) {
			return fmt.Errorf("entry %x appears twice", []byte(e))
		}
		hashes[i] = e
	}
	if len(r.Allocation) != len(r.Entries) {
		return fmt.Errorf("the allocation has %d results for %d entries", len(r.Allocation), len(r.Entries))
	}
	seen := map[int]bool{}
	for _, n := range r.Slots {
		if seen[n] {
			return fmt.Errorf("slot %d is listed twice", n)
		}
		seen[n] = true
	}
	next := 0
	for rank, i := range Order(r.Seed, hashes) {
		res := r.Allocation[rank]
		if !bytes.Equal(res.Entry, hashes[i]) || res.Rank != rank+1 {
			return fmt.Errorf("rank %d: the allocation is not in the order the seed gives (want entry %x)", rank+1, hashes[i])
		}
		switch res.Outcome {
		case fairslot.Skipped:
			if res.Reason == "" || res.Slot != 0 {
				return fmt.Errorf("rank %d: a skipped entry needs a reason and no slot", rank+1)
			}
		case fairslot.Won:
			if next >= len(r.Slots) || res.Slot != r.Slots[next] {
				return fmt.Errorf("rank %d: won slot %d, but the next open slot is not that", rank+1, res.Slot)
			}
			next++
		case fairslot.Lost:
			if next < len(r.Slots) || res.Slot != 0 {
				return fmt.Errorf("rank %d: lost while slots were still open", rank+1)
			}
		default:
			return fmt.Errorf("rank %d: unknown outcome %q", rank+1, res.Outcome)
		}
	}
	return nil
}
