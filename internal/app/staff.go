package app

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// CheckInResult is a checked-in booking with its queue ticket.
type CheckInResult struct {
	Booking BookingView     `json:"booking"`
	Ticket  fairslot.Ticket `json:"ticket"`
	Label   string          `json:"ticket_label"`
	// What the printed ticket says besides: where, and how many patients
	// the room calls before this one (the calling order's, priority
	// interleave included).
	Hospital string `json:"hospital"`
	Campus   string `json:"campus"`
	Ahead    int    `json:"ahead"`
}

// CheckIn checks a paid booking in by its code, re-checking the patient's
// identity by the last four characters of the ID number (or the whole
// number, as a card reader types it), and issues a queue ticket. A failed
// identity check is recorded before it is refused.
func (s *Service) CheckIn(ctx context.Context, a Actor, code, idProof string) (CheckInResult, error) {
	var r CheckInResult
	if err := s.requireStaff(a, fairslot.ActCheckIn); err != nil {
		return r, err
	}
	now := s.now()
	if err := s.KioskProofs.try(a, code, now); err != nil {
		return r, err
	}
	var checkedIn fairslot.Session
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		b, sess, refuse, err := s.proven(ctx, tx, a, code, idProof)
		if refuse != nil || err != nil {
			return refuse, err
		}
		if err := s.Policy.CheckCheckIn(now, b, sess); err != nil {
			return nil, err
		}
		if r, err = s.checkIn(ctx, tx, a, b, now); err != nil {
			return nil, err
		}
		checkedIn = sess
		return nil, nil
	})
	if err == nil {
		s.Display.Publish(checkedIn.DepartmentID) // the room's queue and its patients' turns changed
		err = s.showNameAtDesk(ctx, a, checkedIn, &r)
	}
	return r, err
}

// proven finds the booking of code and re-checks its patient's identity by
// idProof: the last four characters of the ID number, or the whole number
// (what an ID card reader types). A mismatch is recorded in tx and refused;
// a booking of a session a may not work on is not found.
func (s *Service) proven(ctx context.Context, tx storage.Tx, a Actor, code, idProof string) (fairslot.Booking, fairslot.Session, error, error) {
	var sess fairslot.Session
	code = strings.ToUpper(strings.TrimSpace(code))
	idProof = strings.ToUpper(strings.Join(strings.Fields(idProof), ""))
	if len(code) != 8 || len(idProof) < 4 || len(idProof) > 32 {
		return fairslot.Booking{}, sess, fairslot.E(fairslot.Invalid, "error.checkin.input",
			"give the 8-character booking code and the last 4 characters of the patient's ID number"), nil
	}
	b, err := tx.BookingByCode(ctx, code)
	if err != nil {
		return b, sess, nil, err
	}
	rec, err := tx.Patient(ctx, b.PatientID)
	if err != nil {
		return b, sess, nil, err
	}
	idNumber, err := s.Vault.Open(patientField(rec.Ref, "id_number"), rec.IDSealed)
	if err != nil {
		return b, sess, nil, err
	}
	want := idNumber
	if len(idProof) == 4 {
		want = idNumber[len(idNumber)-4:]
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToUpper(want)), []byte(idProof)) != 1 {
		return b, sess, fairslot.E(fairslot.Forbidden, "error.checkin.identity", "the identity check failed: the ID number does not match this booking"),
			s.record(ctx, tx, a, "booking.identity_mismatch", fmt.Sprintf("booking:%d", b.ID), nil)
	}
	sess, err = s.sessionInScope(ctx, tx, a, b.SessionID)
	return b, sess, nil, err
}

// showNameAtDesk gives the desk the full name of the booking it checked in
// (to call the patient and match their papers), recorded; a kiosk, which
// the patient works themselves in a public hall, keeps the mask.
func (s *Service) showNameAtDesk(ctx context.Context, a Actor, sess fairslot.Session, r *CheckInResult) error {
	if a.Role == fairslot.Kiosk || a.Kind != storage.StaffToken {
		return nil
	}
	if err := s.recordViews(ctx, a, sess, []int64{r.Booking.PatientID}, "check_in"); err != nil {
		return err
	}
	return s.Store.View(ctx, func(tx storage.Tx) error {
		rec, err := tx.Patient(ctx, r.Booking.PatientID)
		if err != nil {
			return err
		}
		r.Booking.Patient.Name, err = s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
		return err
	})
}

// checkIn moves a confirmed booking to checked_in and issues its ticket.
func (s *Service) checkIn(ctx context.Context, tx storage.Tx, a Actor, b fairslot.Booking, now time.Time) (CheckInResult, error) {
	var r CheckInResult
	if err := tx.MoveBooking(ctx, b.ID, fairslot.Confirmed, fairslot.CheckedIn, storage.Move{At: now, MissedCalls: -1}); err != nil {
		return r, err
	}
	r.Ticket = fairslot.Ticket{BookingID: b.ID, SessionID: b.SessionID, IssuedAt: now}
	if err := tx.IssueTicket(ctx, &r.Ticket); err != nil {
		return r, err
	}
	r.Label = r.Ticket.Label()
	if err := s.record(ctx, tx, a, "booking.check_in", fmt.Sprintf("booking:%d", b.ID), map[string]string{"ticket": r.Label}); err != nil {
		return r, err
	}
	b.Status, b.UpdatedAt = fairslot.CheckedIn, now
	var err error
	if r.Booking, err = s.bookingView(ctx, tx, b); err != nil {
		return r, err
	}
	r.Ahead = max(r.Booking.Turn-1, 0)
	r.Hospital, r.Campus, err = s.site(ctx, tx, b.DepartmentID)
	return r, err
}

// site names the hospital and campus of a department.
func (s *Service) site(ctx context.Context, tx storage.Tx, departmentID int64) (hospital, campus string, err error) {
	d, err := tx.Department(ctx, departmentID)
	if err != nil {
		return "", "", err
	}
	cs, err := tx.Campuses(ctx)
	if err != nil {
		return "", "", err
	}
	hs, err := tx.Hospitals(ctx)
	if err != nil {
		return "", "", err
	}
	for _, c := range cs {
		if c.ID == d.CampusID {
			campus = c.Name
			for _, h := range hs {
				if h.ID == c.HospitalID {
					hospital = h.Name
				}
			}
		}
	}
	return hospital, campus, nil
}

// WalkInInput registers a patient at the desk for a session today.
type WalkInInput struct {
	SessionID   int64        `json:"session_id"`
	Patient     PatientInput `json:"patient"`
	WindowStart time.Time    `json:"window_start,omitzero"`
	// Priority names the patient's priority group (elderly, disabled,
	// pregnant, child, military): they take a reserved priority slot first
	// and are interleaved in the queue.
	Priority string `json:"priority,omitempty"`
	// PriorityReason is why staff confirm a priority group the ID's birth
	// date does not show (priority.go); the elderly and child groups come
	// from the birth date.
	PriorityReason string `json:"priority_reason,omitempty"`
	Referral       bool   `json:"referral,omitempty"` // takes a reserved referral slot first
	Extra          bool   `json:"extra,omitempty"`    // takes an extra slot the doctor added
}

// quotas gives the quotas a walk-in may take, in order of preference.
func (in WalkInInput) quotas() ([]fairslot.Quota, error) {
	if err := validPriority(in.Priority); err != nil {
		return nil, err
	}
	switch {
	case in.Extra:
		return []fairslot.Quota{fairslot.QuotaExtra}, nil
	case in.Referral:
		return []fairslot.Quota{fairslot.QuotaReferral, fairslot.QuotaGeneral}, nil
	case in.Priority != "":
		return []fairslot.Quota{fairslot.QuotaPriority, fairslot.QuotaGeneral}, nil
	}
	return []fairslot.Quota{fairslot.QuotaGeneral}, nil
}

// firstFree finds a free slot of the first of quotas that has one, in
// order of preference.
func firstFree(ctx context.Context, tx storage.Tx, q storage.SlotQuery, quotas []fairslot.Quota) (slot fairslot.Slot, err error) {
	for _, quota := range quotas {
		q.Quota = quota
		if slot, err = tx.FreeSlot(ctx, q); fairslot.ErrorKind(err) != fairslot.Conflict {
			break
		}
	}
	return slot, err
}

// WalkIn registers a walk-in patient at the desk: the identity is found or
// created, a free slot of today's session is booked on site and paid at the
// desk, and the patient is checked in with a ticket — one transaction. At a
// kiosk a session with a fee is held instead (the result's booking is
// Held, with no ticket): the kiosk has it paid through the payment
// provider (KioskPay) and then checks it in.
func (s *Service) WalkIn(ctx context.Context, a Actor, in WalkInInput) (CheckInResult, error) {
	var r CheckInResult
	if err := s.requireStaff(a, fairslot.ActWalkIn); err != nil {
		return r, err
	}
	id, err := in.Patient.normalize(s.phoneCountry())
	if err != nil {
		return r, err
	}
	if err := validPriority(in.Priority); err != nil {
		return r, err
	}
	now := s.now()
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		var err error
		r, err = s.walkIn(ctx, tx, a, in, id, now, true)
		return err
	})
	if err == nil {
		s.Display.Publish(r.Booking.DepartmentID) // the room's queue and its patients' turns changed
	}
	return r, err
}

// walkIn registers a walk-in at now inside tx (WalkIn, and the desk's
// paper entered after an outage with the time it was written down). gate:
// a doctor who needs referral review refuses a patient not admitted
// (referral.go) — not for paper entered after an outage, which records a
// visit that already happened.
func (s *Service) walkIn(ctx context.Context, tx storage.Tx, a Actor, in WalkInInput, id identity, now time.Time, gate bool) (CheckInResult, error) {
	var r CheckInResult
	sess, err := s.sessionInScope(ctx, tx, a, in.SessionID)
	if err != nil {
		return r, err
	}
	if now.Format(time.DateOnly) != sess.Date || !now.Before(sess.End) {
		return r, fairslot.E(fairslot.Conflict, "error.walkin.today", "walk-ins are registered for today's sessions that have not ended")
	}
	var rec storage.PatientRecord
	if a.Role == fairslot.Kiosk {
		rec, err = s.patientOnRecord(ctx, tx, id)
	} else {
		rec, _, err = s.findOrCreatePatient(ctx, tx, a, id)
	}
	if err != nil {
		return r, err
	}
	if gate {
		if err := s.referralGate(ctx, tx, rec.ID, sess, now); err != nil {
			return r, err
		}
	}
	// The priority group: from the identity's birth date, or confirmed by
	// staff with a reason (priority.go); never self-declared.
	group, confirmed, err := s.priority(a, in, rec, now)
	if err != nil {
		return r, err
	}
	in.Priority = group
	quotas, err := in.quotas()
	if err != nil {
		return r, err
	}
	b := fairslot.Booking{PatientID: rec.ID, Channel: fairslot.OnSite, Status: fairslot.Confirmed, Priority: group}
	if err := s.expire(ctx, tx, sess.ID, now); err != nil {
		return r, err
	}
	slot, err := firstFree(ctx, tx, storage.SlotQuery{SessionID: sess.ID, WindowStart: in.WindowStart, Now: now}, quotas)
	if err != nil {
		return r, err
	}
	// An unattended kiosk takes no cash: a walk-in with a fee is held
	// there, to be paid through the payment provider as any held booking
	// is at the kiosk (KioskPay) and then checked in; the desk takes the
	// fee itself.
	payLater := a.Role == fairslot.Kiosk && sess.FeeCents > 0
	if payLater {
		b.Status, b.HeldUntil = fairslot.Held, s.Policy.HoldExpiry(now, sess)
	}
	if err := s.take(ctx, tx, &b, sess, slot, now); err != nil {
		return r, err
	}
	if payLater {
		detail := map[string]string{"session": fmt.Sprint(sess.ID), "slot": fmt.Sprint(slot.Number), "patient": fmt.Sprint(rec.ID), "pay": "kiosk"}
		if group != "" {
			detail["priority"], detail["priority_from"] = group, "birth_date"
		}
		if err := s.record(ctx, tx, a, "booking.walk_in", fmt.Sprintf("booking:%d", b.ID), detail); err != nil {
			return r, err
		}
		r.Booking, err = s.bookingView(ctx, tx, b)
		return r, err
	}
	if err := tx.InsertPayment(ctx, storage.Payment{Key: "desk:" + b.Code, BookingID: b.ID, AmountCents: b.FeeCents, Provider: "desk", ProviderRef: b.Code,
		Status: storage.PaymentSettled, CreatedAt: now}); err != nil {
		return r, err
	}
	detail := map[string]string{"session": fmt.Sprint(sess.ID), "slot": fmt.Sprint(slot.Number), "patient": fmt.Sprint(rec.ID)}
	if group != "" {
		detail["priority"], detail["priority_from"] = group, "birth_date"
		if confirmed != "" {
			detail["priority_from"], detail["priority_reason"] = "staff", confirmed
		}
	}
	if err := s.record(ctx, tx, a, "booking.walk_in", fmt.Sprintf("booking:%d", b.ID), detail); err != nil {
		return r, err
	}
	return s.checkIn(ctx, tx, a, b, now)
}

// QueueItem is one patient in a clinic queue, masked.
type QueueItem struct {
	BookingID   int64           `json:"booking_id"`
	Ticket      string          `json:"ticket"`
	Status      fairslot.Status `json:"status"`
	Name        string          `json:"name"`
	MissedCalls int             `json:"missed_calls"`
	Priority    string          `json:"priority,omitempty"`
	// Turn is a waiting patient's place in the calling order (1 is called
	// next), with priority patients interleaved; 0 for one being called.
	Turn int `json:"turn,omitempty"`
}

// turns returns each waiting booking's place in the calling order of a
// session's queue q (in queue order): the interleave CallNext will follow.
func (s *Service) turns(ctx context.Context, tx storage.Tx, sessionID int64, q []storage.QueueEntry) (map[int64]int, error) {
	var waiting []bool
	var ids []int64
	for _, e := range q {
		if e.Booking.Status == fairslot.CheckedIn {
			waiting = append(waiting, e.Booking.Priority != "")
			ids = append(ids, e.Booking.ID)
		}
	}
	recent, err := tx.RecentCalls(ctx, sessionID, max(s.Calling.PriorityEvery-1, 0))
	if err != nil {
		return nil, err
	}
	turn := make(map[int64]int, len(ids))
	for n, i := range s.Calling.Order(waiting, recent) {
		turn[ids[i]] = n + 1
	}
	return turn, nil
}

// Queue lists a session's queue in calling order.
func (s *Service) Queue(ctx context.Context, a Actor, sessionID int64) ([]QueueItem, error) {
	if err := s.requireStaff(a, fairslot.ActViewQueue); err != nil {
		return nil, err
	}
	var out []QueueItem
	var names []string
	var patients []int64
	var sess fairslot.Session
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		if sess, err = s.sessionInScope(ctx, tx, a, sessionID); err != nil {
			return err
		}
		q, err := tx.Queue(ctx, sessionID)
		if err != nil {
			return err
		}
		turn, err := s.turns(ctx, tx, sessionID, q)
		if err != nil {
			return err
		}
		for _, e := range q {
			name, err := s.Vault.Open(patientField(e.PatientRef, "name"), e.NameSealed)
			if err != nil {
				return err
			}
			out = append(out, QueueItem{BookingID: e.Booking.ID, Ticket: e.Ticket.Label(), Status: e.Booking.Status,
				Name: vault.MaskName(name), MissedCalls: e.Booking.MissedCalls, Priority: e.Booking.Priority, Turn: turn[e.Booking.ID]})
			names, patients = append(names, name), append(patients, e.Booking.PatientID)
		}
		return nil
	})
	// The doctor sees the full names of their own session's queue (the
	// scope check above made sure it is theirs), each recorded once a day.
	if err == nil && a.Role == fairslot.DoctorRole {
		if err = s.recordViews(ctx, a, sess, patients, "clinical_care"); err == nil {
			for i := range out {
				out[i].Name = names[i]
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CallNext calls the first waiting patient of a session into the room.
func (s *Service) CallNext(ctx context.Context, a Actor, sessionID int64) (QueueItem, error) {
	var item QueueItem
	if err := s.requireStaff(a, fairslot.ActCall); err != nil {
		return item, err
	}
	var dept int64
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		dept = sess.DepartmentID
		q, err := tx.Queue(ctx, sessionID)
		if err != nil {
			return err
		}
		for _, e := range q {
			if e.Booking.Status == fairslot.Called {
				return fairslot.E(fairslot.Conflict, "error.queue.still_called", "ticket %s is still called; complete it or mark it missed first", e.Ticket.Label())
			}
		}
		if len(q) == 0 {
			return fairslot.E(fairslot.NotFound, "error.queue.empty", "no one is waiting in this session")
		}
		priority := make([]bool, len(q))
		for i, e := range q {
			priority[i] = e.Booking.Priority != ""
		}
		recent, err := tx.RecentCalls(ctx, sessionID, max(s.Calling.PriorityEvery-1, 0))
		if err != nil {
			return err
		}
		e := q[s.Calling.Next(priority, recent)]
		now := s.now()
		if err := tx.MoveBooking(ctx, e.Booking.ID, fairslot.CheckedIn, fairslot.Called, storage.Move{At: now, MissedCalls: -1}); err != nil {
			return err
		}
		if err := tx.InsertCall(ctx, sessionID, e.Booking.ID, e.Booking.Priority != "", now); err != nil {
			return err
		}
		item = QueueItem{BookingID: e.Booking.ID, Ticket: e.Ticket.Label(), Status: fairslot.Called, MissedCalls: e.Booking.MissedCalls,
			Priority: e.Booking.Priority}
		name, err := s.Vault.Open(patientField(e.PatientRef, "name"), e.NameSealed)
		item.Name = vault.MaskName(name)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, a, "queue.call", fmt.Sprintf("booking:%d", e.Booking.ID), map[string]string{"ticket": item.Ticket})
	})
	if err == nil {
		s.Display.Publish(dept)
	}
	return item, err
}

// calledBooking loads a booking that must be in the called state.
func calledBooking(ctx context.Context, tx storage.Tx, id int64) (fairslot.Booking, error) {
	b, err := tx.Booking(ctx, id)
	if err == nil && b.Status != fairslot.Called {
		return b, fairslot.E(fairslot.Conflict, "error.queue.not_called", "the booking is %s, not called", b.Status)
	}
	return b, err
}

// Recall announces a called patient again.
func (s *Service) Recall(ctx context.Context, a Actor, bookingID int64) error {
	return s.callAction(ctx, a, bookingID, "queue.recall", func(tx storage.Tx, b fairslot.Booking) error {
		return tx.InsertRecall(ctx, b.SessionID, b.ID, s.now())
	})
}

// Complete ends a called patient's visit.
func (s *Service) Complete(ctx context.Context, a Actor, bookingID int64) error {
	return s.callAction(ctx, a, bookingID, "queue.complete", func(tx storage.Tx, b fairslot.Booking) error {
		return tx.MoveBooking(ctx, b.ID, fairslot.Called, fairslot.Completed, storage.Move{At: s.now(), MissedCalls: -1})
	})
}

// Missed marks a called patient as not answering: they go back in the queue
// by the queue policy, and past its limit the booking becomes a no-show.
func (s *Service) Missed(ctx context.Context, a Actor, bookingID int64) error {
	return s.callAction(ctx, a, bookingID, "queue.missed", func(tx storage.Tx, b fairslot.Booking) error {
		q, err := tx.Queue(ctx, b.SessionID)
		if err != nil {
			return err
		}
		var waiting []float64
		var ticketID int64
		for _, e := range q {
			if e.Booking.ID == b.ID {
				ticketID = e.Ticket.ID
			} else if e.Booking.Status == fairslot.CheckedIn {
				waiting = append(waiting, e.Ticket.Position)
			}
		}
		missed := b.MissedCalls + 1
		pos, void := s.Calling.Reinsert(waiting, missed)
		if void {
			return tx.MoveBooking(ctx, b.ID, fairslot.Called, fairslot.NoShow, storage.Move{At: s.now(), MissedCalls: missed})
		}
		if err := tx.MoveBooking(ctx, b.ID, fairslot.Called, fairslot.CheckedIn, storage.Move{At: s.now(), MissedCalls: missed}); err != nil {
			return err
		}
		return tx.SetTicketPosition(ctx, ticketID, pos)
	})
}

func (s *Service) callAction(ctx context.Context, a Actor, bookingID int64, action string, fn func(storage.Tx, fairslot.Booking) error) error {
	if err := s.requireStaff(a, fairslot.ActCall); err != nil {
		return err
	}
	var dept int64
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		// The scope first: another doctor's patient's status is not theirs to learn.
		if b, err := tx.Booking(ctx, bookingID); err != nil {
			return err
		} else if _, err := s.sessionInScope(ctx, tx, a, b.SessionID); err != nil {
			return err
		}
		b, err := calledBooking(ctx, tx, bookingID)
		if err != nil {
			return err
		}
		dept = b.DepartmentID
		if err := fn(tx, b); err != nil {
			return err
		}
		return s.record(ctx, tx, a, action, fmt.Sprintf("booking:%d", b.ID), nil)
	})
	if err == nil {
		s.Display.Publish(dept)
	}
	return err
}

// LookupInput finds bookings at the registration desk: by booking code, or
// by the patient's ID number (through its blind index; the number itself is
// never stored or searched in clear) with a reason.
type LookupInput struct {
	Code     string          `json:"code,omitempty"`
	IDType   fairslot.IDType `json:"id_type,omitempty"`
	IDNumber string          `json:"id_number,omitempty"`
	Reason   access.Reason   `json:"reason,omitempty"` // needed for a look-up by ID number
	Note     string          `json:"note,omitempty"`
}

// Lookup returns the bookings a desk look-up finds where the login works,
// with the patient masked. A look-up by ID number is a search for a person:
// it needs a reason, is recorded found or not, and counts against the
// account's access limits — over them the account is locked.
func (s *Service) Lookup(ctx context.Context, a Actor, in LookupInput) (out []BookingView, err error) {
	if err := s.requireStaff(a, fairslot.ActLookup); err != nil {
		return nil, err
	}
	if code := strings.ToUpper(strings.TrimSpace(in.Code)); code != "" {
		err = s.Store.View(ctx, func(tx storage.Tx) error {
			b, err := tx.BookingByCode(ctx, code)
			if err != nil {
				return err
			}
			if _, err := s.sessionInScope(ctx, tx, a, b.SessionID); err != nil {
				return fairslot.E(fairslot.NotFound, "error.booking.not_here", "booking not found where this login works")
			}
			v, err := s.bookingView(ctx, tx, b)
			out = append(out, v)
			return err
		})
		return out, err
	}
	reason, note, err := access.Check(in.Reason, in.Note)
	if err != nil {
		return nil, err
	}
	id, err := fairslot.NormalizeID(in.IDType, in.IDNumber)
	if err != nil {
		return nil, err
	}
	index := s.Vault.Index("id:"+string(in.IDType), id)
	var ids []int64
	var alert string
	err = s.committed(ctx, func(tx storage.Tx) (error, error) {
		var patientID int64
		rec, err := byIndex(s.Vault, "id:"+string(in.IDType), id, func(i []byte) (storage.PatientRecord, error) {
			return tx.PatientByIdentity(ctx, in.IDType, i)
		})
		switch {
		case err == nil:
			patientID = rec.ID
		case fairslot.ErrorKind(err) != fairslot.NotFound:
			return nil, err
		}
		subject := lookupSubject(patientID, index)
		refuse, why, err := s.limited(ctx, tx, a, subject)
		if refuse != nil || err != nil {
			alert = why
			return refuse, err
		}
		var bs []fairslot.Booking
		if patientID != 0 {
			all, err := tx.PatientBookings(ctx, patientID)
			if err != nil {
				return nil, err
			}
			for _, b := range all {
				sess, err := tx.Session(ctx, b.SessionID)
				if err != nil {
					return nil, err
				}
				if s.inScope(ctx, tx, a, sess) == nil {
					bs = append(bs, b)
				}
			}
		}
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
		// A patient found but with nothing here was not shown to this login:
		// recorded as a miss, as the desk saw one.
		shown := patientID
		if len(bs) == 0 {
			shown = 0
		}
		if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role), PatientID: shown,
			Kind: string(access.Lookup), Field: "id", Reason: string(reason), Place: place(a, fairslot.Session{}), Subject: subject}, note); err != nil {
			return nil, err
		}
		subj := "lookup:miss"
		if shown != 0 {
			subj = fmt.Sprintf("patient:%d", shown)
		}
		if err := s.record(ctx, tx, a, "patient.lookup", subj, map[string]string{"found": fmt.Sprint(len(bs)), "reason": string(reason),
			"id_type": string(in.IDType)}); err != nil {
			return nil, err
		}
		if len(bs) == 0 {
			return fairslot.E(fairslot.NotFound, "error.lookup.none", "no booking found for this ID number"), nil
		}
		return nil, nil
	})
	s.alert(a, alert)
	if err != nil {
		return nil, err
	}
	for _, id := range ids { // the views are built on the read pool, not in the write transaction
		v, err := s.view(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
