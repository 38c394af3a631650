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
