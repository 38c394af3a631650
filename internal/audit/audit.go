// Package audit defines the audit record appended, in the same transaction,
// for every state change, login and staff or admin action. A record never
// holds personal data: subjects are named by kind and row id, and details are
// masked values, ids and codes only. The canonical encoding is what a Merkle
// log will hash, so it must stay stable.
package audit

import (
	"encoding/json"
	"strconv"
	"time"
)

// Event is one audit record. Seq is assigned by storage, contiguous from 1.
type Event struct {
	Seq       int64             `json:"seq"`
	At        time.Time         `json:"at"`
	Actor     string            `json:"actor"`   // "account:12", "staff:3", "system"
	Action    string            `json:"action"`  // "booking.hold", "staff.login", ...
	Subject   string            `json:"subject"` // "booking:55"
	Detail    map[string]string `json:"detail,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// Canonical is the record's stable byte encoding: JSON with fields in a fixed
// order, map keys sorted and time in UTC with nanoseconds, so that one record
// always hashes the same.
func (e Event) Canonical() []byte {
	e.At = e.At.UTC()
	b, err := json.Marshal(e) // struct fields in declaration order, map keys sorted
	if err != nil {
		panic("audit: canonical encoding: " + err.Error()) // strings only: cannot fail
	}
	return b
}

// Ref names an actor or a subject as "kind:id".
func Ref(kind string, id int64) string {
	return kind + ":" + strconv.FormatInt(id, 10)
}

// AppendCanonical appends the canonical encoding of a record given as its
// stored columns — at in Unix milliseconds, detail as the stored JSON object
// ("{}" when empty) — without decoding it into an Event. For every record
// stored from an Event it gives exactly Event.Canonical's bytes, so a
// verifier reading millions of rows hashes what the writer meant without a
// JSON decode per row. A detail column altered to other JSON is hashed as it
// stands, and so no longer matches. The columns may be given as strings or
// as bytes (a reader's reused buffers): the bytes are the same either way.
func AppendCanonical[S ~string | ~[]byte](dst []byte, seq, atMillis int64, actor, action, subject, detail, requestID S) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"at":`...)
	t := time.UnixMilli(atMillis).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		// Outside what time.Time's JSON form allows; Canonical would panic on
		// it, so no honest record holds it. Hash something that cannot match.
		dst = append(dst, `"invalid"`...)
	} else {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"actor":`...)
	dst = appendString(dst, actor)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, action)
	dst = append(dst, `,"subject":`...)
	dst = appendString(dst, subject)
	if d := string(detail); d != "{}" && d != "" {
		dst = append(dst, `,"detail":`...)
		dst = append(dst, detail...)
	}
	if len(requestID) != 0 {
		dst = append(dst, `,"request_id":`...)
		dst = appendString(dst, requestID)
	}
	return append(dst, '}')
}

// appendString appends s as encoding/json writes it: plain printable ASCII
// as it is, anything else through the encoder itself, so that the two can
// never disagree.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(string(s)) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
