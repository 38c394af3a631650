package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/storage"
)

// The downtime kit (internal/kit) is printed from the staff console and
// what the desk did on paper comes back afterwards; both go through here,
// so who may do them and what is recorded is decided with the other
// access rules.

// kitRoles may print a department's downtime list: the desk and the
// clinic's nurses, who would work from it, and admins. Not a doctor (a
// department's list shows other doctors' patients), a kiosk (a device in
// a public hall) nor security (no patient data).
var kitRoles = []fairslot.Role{fairslot.Registrar, fairslot.Nurse, fairslot.Admin}

// KitPrintsPerHour bounds the lists one login prints in an hour: a desk
// prints a few; more is someone collecting them.
const KitPrintsPerHour = 20

// KitDepartments lists the departments a may print a downtime list for:
// none for a role that may not print, its scope's for a scoped login.
func (s *Service) KitDepartments(ctx context.Context, a Actor) ([]fairslot.Department, error) {
	if a.Kind != storage.StaffToken || !slices.Contains(kitRoles, a.Role) {
		return nil, nil
	}
	var out []fairslot.Department
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		ds, err := tx.Departments(ctx)
		for _, d := range ds {
			if kitInScope(a, d) == nil {
				out = append(out, d)
			}
		}
		return err
	})
	return out, err
}

func kitInScope(a Actor, d fairslot.Department) error {
	switch {
	case a.Scope.DepartmentID != 0 && a.Scope.DepartmentID != d.ID:
		return fairslot.E(fairslot.Forbidden, "error.kit.department", "this login works in another department")
	case a.Scope.CampusID != 0 && a.Scope.CampusID != d.CampusID:
		return fairslot.E(fairslot.Forbidden, "error.kit.campus", "this login works at another campus")
	}
	return nil
}

// KitPrint checks that a may print department's downtime list (masked
// names, booking codes, statuses) and records that they did — in the
// access log as an export and in the audit log — before the caller shows
// it. More than KitPrintsPerHour in an hour is refused.
func (s *Service) KitPrint(ctx context.Context, a Actor, departmentID int64) (fairslot.Department, error) {
	var d fairslot.Department
	if a.Kind != storage.StaffToken {
		return d, fairslot.E(fairslot.Unauthorized, "error.login.staff_first", "log in as staff first")
	}
	if !slices.Contains(kitRoles, a.Role) {
		return d, fairslot.E(fairslot.Forbidden, "error.kit.print_role", "the %s role may not print a department's downtime list", a.Role)
	}
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		locked, err := tx.StaffAccessLocked(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if !locked.IsZero() {
			return errAccessLocked, nil
		}
		if d, err = tx.Department(ctx, departmentID); err != nil {
			return nil, err
		}
		if refuse := kitInScope(a, d); refuse != nil {
			return refuse, s.record(ctx, tx, a, "kit.print_refused", fmt.Sprintf("department:%d", d.ID), map[string]string{"why": "scope"})
		}
		now := s.now()
		prints, err := tx.CountedAccesses(ctx, a.ID, []string{string(access.Export)}, now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		n := 0
		for _, p := range prints {
			if p.Field == "kit" {
				n++
			}
		}
		if n >= KitPrintsPerHour {
			return fairslot.E(fairslot.Limited, "error.kit.print_limit", "%d downtime lists printed in the last hour: that is the limit", n),
				s.record(ctx, tx, a, "kit.print_refused", fmt.Sprintf("department:%d", d.ID), map[string]string{"why": "limit"})
		}
		if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: now, StaffID: a.ID, Role: string(a.Role), Kind: string(access.Export),
			Field: "kit", Reason: "downtime_list", Place: "registration desk", Subject: fmt.Sprintf("department:%d", d.ID)}, ""); err != nil {
			return nil, err
		}
		return nil, s.record(ctx, tx, a, "kit.print", fmt.Sprintf("department:%d", d.ID), map[string]string{"masked": "true"})
	})
	return d, err
}

// OutageEntry is one thing the desk did on paper while the system was
// down, to enter afterwards: a check-in of a booking (Code, IDLast4) or a
// walk-in (WalkIn), at At, the time the desk wrote down.
type OutageEntry struct {
	Line    int // in the desk's file, for errors
	Kind    string
	At      time.Time
	Code    string
	IDLast4 string
	WalkIn  WalkInInput
}

// OutageLine is what happened to one entry.
type OutageLine struct {
	Line      int    `json:"line"`
	Kind      string `json:"kind"`
	BookingID int64  `json:"booking_id"`
	Ticket    string `json:"ticket"`
	// Already is true when the entry was entered before (the same file, or
	// the same row in another): nothing changed.
	Already bool `json:"already"`
}

// OutageError is the refusal of a whole file by one of its entries.
type OutageError struct {
	Line int
	Err  error
}

func (e *OutageError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *OutageError) Unwrap() error { return e.Err }

// EnterAfterOutage enters what the desk did on paper, all or nothing: in
// one transaction, each entry through the same rules as at the desk
// (check-in: a paid booking, the ID's last four, on the session's day
// before it ended; walk-in: the identity, the patient's limits and a free
// slot), at the time written down. The first entry the rules refuse
// refuses the whole file (an *OutageError with its line) and nothing is
// kept. Each entry is audited as "outage.entered" with its original time
// and where it came from; an entry already entered is skipped, so the
// same file entered twice changes nothing the second time.
func (s *Service) EnterAfterOutage(ctx context.Context, a Actor, source string, entries []OutageEntry) ([]OutageLine, error) {
	for _, e := range entries {
		act := fairslot.ActCheckIn
		if e.Kind == "walk_in" {
			act = fairslot.ActWalkIn
		}
		if err := s.requireStaff(a, act); err != nil {
			return nil, err
		}
		if a.Role == fairslot.Kiosk {
			return nil, fairslot.E(fairslot.Forbidden, "error.kit.kiosk", "a kiosk does not enter the desk's paper records")
		}
	}
	now := s.now()
	key := s.Vault.Key("outage-entry")
	var out []OutageLine
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		out = out[:0]
		for _, e := range entries {
			line, err := s.enterOne(ctx, tx, a, source, e, key, now)
			if err != nil {
				return &OutageError{Line: e.Line, Err: err}
			}
			out = append(out, line)
		}
		return nil
	})
	var mismatch *identityMismatch
	if errors.As(err, &mismatch) {
		// Recorded as at the desk, although the file rolled back: an import
		// is no unrecorded way to try guesses of the check-in proof.
		if aerr := s.Store.Update(ctx, func(tx storage.Tx) error {
			return s.record(ctx, tx, a, "booking.identity_mismatch", fmt.Sprintf("booking:%d", mismatch.booking),
				map[string]string{"source": source})
		}); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// identityMismatch is an entry's last four that do not match its booking.
type identityMismatch struct {
	booking int64
	err     error
}

func (e *identityMismatch) Error() string { return e.err.Error() }
func (e *identityMismatch) Unwrap() error { return e.err }

func (s *Service) enterOne(ctx context.Context, tx storage.Tx, a Actor, source string, e OutageEntry, key []byte, now time.Time) (OutageLine, error) {
	line := OutageLine{Line: e.Line, Kind: e.Kind}
	at := e.At.In(s.Location).Truncate(time.Millisecond)
	if at.After(now) {
		return line, fairslot.E(fairslot.Invalid, "error.kit.future", "the time %s is in the future", at.Format("2006-01-02 15:04")).With(at)
	}
	// The entry's identity: what it did and when, keyed so that the stored
	// name reveals nothing (an ID number's hash could be brute-forced).
	mac := hmac.New(sha256.New, key)
	var r CheckInResult
	switch e.Kind {
	case "check_in":
		code := strings.ToUpper(strings.TrimSpace(e.Code))
		last4 := strings.ToUpper(strings.TrimSpace(e.IDLast4))
		if len(code) != 8 || len(last4) != 4 {
			return line, fairslot.E(fairslot.Invalid, "error.kit.code_last4", "give the 8-character booking code and the last 4 characters of the ID")
		}
		b, err := tx.BookingByCode(ctx, code)
		if err != nil {
			return line, err
		}
		// The scope first: a refusal here is not audited (the file rolls
		// back), so a login must not learn from it whether a guess of the
		// last four of another department's patient was right.
		sess, err := s.sessionInScope(ctx, tx, a, b.SessionID)
		if err != nil {
			return line, err
		}
		rec, err := tx.Patient(ctx, b.PatientID)
		if err != nil {
			return line, err
		}
		idNumber, err := s.Vault.Open(patientField(rec.Ref, "id_number"), rec.IDSealed)
		if err != nil {
			return line, err
		}
		if subtle.ConstantTimeCompare([]byte(idNumber[len(idNumber)-4:]), []byte(last4)) != 1 {
			return line, &identityMismatch{b.ID, fairslot.E(fairslot.Forbidden, "error.kit.mismatch", "the ID's last four written down do not match booking %s", code)}
		}
		// Already entered: only now, so a replay by a login out of scope or
		// with another last four learns nothing.
		fmt.Fprintf(mac, "check_in\x00%s\x00%d", code, at.UnixMilli())
		settingKey := "outage." + hex.EncodeToString(mac.Sum(nil))
		if done, ok, err := s.entered(ctx, tx, settingKey); err != nil || ok {
			line.BookingID, line.Already = done, ok
			return line, err
		}
		// Paper times are to the minute: one before the booking's minute
		// was not a check-in of it.
		if at.Before(b.CreatedAt.Truncate(time.Minute)) {
			return line, fairslot.E(fairslot.Invalid, "error.kit.before_booking", "booking %s was made at %s, after the time written down (%s)",
				code, b.CreatedAt.In(s.Location).Format("2006-01-02 15:04"), at.Format("2006-01-02 15:04")).With(code, b.CreatedAt, at)
		}
		if err := s.Policy.CheckCheckIn(at, b, sess); err != nil {
			return line, err
		}
		if r, err = s.checkIn(ctx, tx, a, b, at); err != nil {
			return line, err
		}
		return s.markEntered(ctx, tx, a, source, e, settingKey, r, at, now)
	case "walk_in":
		id, err := e.WalkIn.Patient.normalize(s.phoneCountry())
		if err != nil {
			return line, err
		}
		if _, err := s.sessionInScope(ctx, tx, a, e.WalkIn.SessionID); err != nil {
			return line, err
		}
		fmt.Fprintf(mac, "walk_in\x00%d\x00%s\x00%s\x00%d", e.WalkIn.SessionID, id.typ, id.idNumber, at.UnixMilli())
		settingKey := "outage." + hex.EncodeToString(mac.Sum(nil))
		if done, ok, err := s.entered(ctx, tx, settingKey); err != nil || ok {
			line.BookingID, line.Already = done, ok
			return line, err
		}
		if r, err = s.walkIn(ctx, tx, a, e.WalkIn, id, at, false); err != nil {
			return line, err
		}
		return s.markEntered(ctx, tx, a, source, e, settingKey, r, at, now)
	}
	return line, fairslot.E(fairslot.Invalid, "error.kit.kind", "an entry is a check_in or a walk_in, not %q", e.Kind)
}

// entered reports whether an entry was entered before, and its booking.
func (s *Service) entered(ctx context.Context, tx storage.Tx, key string) (int64, bool, error) {
	v, err := tx.Setting(ctx, key)
	switch {
	case fairslot.ErrorKind(err) == fairslot.NotFound:
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	var id int64
	fmt.Sscan(v, &id)
	return id, true, nil
}

func (s *Service) markEntered(ctx context.Context, tx storage.Tx, a Actor, source string, e OutageEntry, key string, r CheckInResult, at, now time.Time) (OutageLine, error) {
	line := OutageLine{Line: e.Line, Kind: e.Kind, BookingID: r.Booking.ID, Ticket: r.Label}
	if err := tx.PutSetting(ctx, key, fmt.Sprint(r.Booking.ID)); err != nil {
		return line, err
	}
	return line, s.record(ctx, tx, a, "outage.entered", fmt.Sprintf("booking:%d", r.Booking.ID), map[string]string{
		"kind": e.Kind, "original_at": at.Format(time.RFC3339), "entered_at": now.Format(time.RFC3339),
		"source": source, "line": fmt.Sprint(e.Line), "ticket": r.Label})
}

// StaffActor is the actor of a member of staff named by username, for the
// command line acting on their behalf (entering the paper they wrote): the
// role and scope are theirs, and a login locked by the access limits is
// refused.
func (s *Service) StaffActor(ctx context.Context, username string) (Actor, error) {
	var a Actor
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		st, _, err := tx.StaffByUsername(ctx, username)
		if err != nil {
			return err
		}
		auth, err := tx.StaffAuth(ctx, st.ID)
		if err != nil {
			return err
		}
		if !auth.DisabledAt.IsZero() {
			return fairslot.Errorf(fairslot.Forbidden, "staff account %s is disabled", username)
		}
		a = Actor{Kind: storage.StaffToken, ID: st.ID, RequestID: "cli"}
		return s.staffActor(ctx, tx, &a, st)
	})
	return a, err
}
