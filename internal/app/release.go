package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// NewSession stores a session of a doctor in the department with the given
// code, with its slots' quotas and its release planned by the release rules
// in force (Rules): the jittered opening drawn now, and for a draw the seed
// made and sealed and its commitment stored, to be published when the
// entry window opens.
func (s *Service) NewSession(ctx context.Context, tx storage.Tx, department string, sess *fairslot.Session, slots []fairslot.Slot) error {
	p, err := s.rules(ctx, tx) // the file's, with the admins' over them (admin.go)
	if err != nil {
		return err
	}
	return s.NewSessionAt(ctx, tx, p.For(sess.DoctorID, department), sess, slots, s.Policy.Opens(*sess))
}

// NewSessionAt is NewSession with the rule and the release time given: for
// a release at a moment of the caller's choosing (the simulator's storm).
func (s *Service) NewSessionAt(ctx context.Context, tx storage.Tx, rule release.Rule, sess *fairslot.Session, slots []fairslot.Slot, opens time.Time) error {
	for i, q := range rule.Quotas(len(slots)) {
		slots[i].Quota = q
	}
	if err := sess.Validate(slots); err != nil {
		return err
	}
	if err := tx.CreateSession(ctx, sess, slots); err != nil {
		return err
	}
	var rel fairslot.Release
	s.random(func(r *mrand.Rand) { rel = rule.Plan(sess.ID, opens, r) })
	var sealed []byte
	if rel.Mode == fairslot.Draw {
		seed := make([]byte, release.SeedSize)
		rand.Read(seed)
		var err error
		if sealed, err = s.Vault.Seal(seedField(sess.ID), hex.EncodeToString(seed)); err != nil {
			return err
		}
		rel.Commitment = release.Commit(seed)
	}
	return tx.InsertRelease(ctx, rel, sealed)
}

func seedField(sessionID int64) vault.Field {
	return vault.Field{Table: "releases", Row: fmt.Sprint(sessionID), Column: "seed"}
}

// releaseOf returns a session's release; a session planned before releases
// existed is first come at the booking policy's release time.
func (s *Service) releaseOf(ctx context.Context, tx storage.Tx, sess fairslot.Session) (fairslot.Release, error) {
	rel, err := tx.Release(ctx, sess.ID)
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return fairslot.Release{SessionID: sess.ID, Mode: fairslot.FirstCome, Opens: s.Policy.Opens(sess)}, nil
	}
	return rel, err
}

// checkOnline reports whether sess may be booked first come at now.
func (s *Service) checkOnline(ctx context.Context, tx storage.Tx, sess fairslot.Session, now time.Time) error {
	if sess.Cancelled() {
		return storage.ErrSessionCancelled // the database refuses it too
	}
	rel, err := s.releaseOf(ctx, tx, sess)
	if err != nil {
		return err
	}
	if err := release.CheckOnline(now, rel); err != nil {
		return err
	}
	return s.Policy.CheckOpen(now, sess)
}

// ReleaseView is a session's release as anyone may see it. The jittered
// opening of a first-come session is not shown: only that it comes after
// the published release time.
type ReleaseView struct {
	Mode        fairslot.ReleaseMode `json:"mode"`
	OpensAfter  time.Time            `json:"opens_after"`
	EntryOpens  time.Time            `json:"entry_opens,omitzero"`
	EntryCloses time.Time            `json:"entry_closes,omitzero"`
	Commitment  string               `json:"commitment,omitempty"` // SHA-256 of the draw seed, hex
	Drawn       time.Time            `json:"drawn,omitzero"`
	Entries     int                  `json:"entries,omitempty"`
	// Bookable and EntriesOpen say what the rules allow at the moment of
	// the view: taking a place first come, or entering the draw.
	Bookable    bool `json:"bookable"`
	EntriesOpen bool `json:"entries_open,omitempty"`
}

func (s *Service) releaseView(ctx context.Context, tx storage.Tx, sess fairslot.Session, now time.Time) (ReleaseView, error) {
	rel, err := s.releaseOf(ctx, tx, sess)
	if err != nil {
		return ReleaseView{}, err
	}
	v := ReleaseView{Mode: rel.Mode, OpensAfter: s.Policy.Opens(sess),
		Bookable: release.CheckOnline(now, rel) == nil && s.Policy.CheckOpen(now, sess) == nil}
	if rel.Mode != fairslot.Draw {
		return v, nil
	}
	v.EntryOpens, v.EntryCloses, v.Drawn = rel.Opens, rel.EntryCloses, rel.Drawn
	v.EntriesOpen = release.CheckEntry(now, rel) == nil
	if !now.Before(rel.Opens) {
		v.Commitment = hex.EncodeToString(rel.Commitment)
	}
	v.Entries, err = tx.EntryCount(ctx, sess.ID)
	return v, err
}

// EntryInput enters a bound patient into a session's draw.
type EntryInput struct {
	SessionID int64 `json:"session_id"`
	PatientID int64 `json:"patient_id"`
}

// EntryView is a draw entry as its patient sees it: the entry's hash, to
// find in the published record, and once drawn the rank and outcome.
type EntryView struct {
	ID         int64            `json:"id"`
	SessionID  int64            `json:"session_id"`
	PatientID  int64            `json:"patient_id"`
	Hash       string           `json:"hash"`
	EnteredAt  time.Time        `json:"entered_at"`
	Drawn      bool             `json:"drawn"`
	Rank       int              `json:"rank,omitempty"`
	Of         int              `json:"of,omitempty"`
	Outcome    fairslot.Outcome `json:"outcome,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	BookingID  int64            `json:"booking_id,omitempty"`
	Commitment string           `json:"commitment"`
	// Held: the account was held for review when it entered; the entry
	// takes part in the draw only if a reviewer approves it in time.
	Held bool `json:"held,omitempty"`
	// What the patient reads (portal.go): the session, the masked
	// patient, when the result comes (the entry window's close), and a
	// win's held booking to pay.
	Session  SessionLabel `json:"session"`
	Patient  string       `json:"patient"`
	ResultAt time.Time    `json:"result_at"`
	Offer    *Offer       `json:"offer,omitempty"`
}

// EnterDraw enters a patient into a session's draw. It is idempotent: a
// second entry of the same patient returns the first, so entering a
// hundred times a second gives nothing over entering once. The booking rules
// apply as for a booking, and the database keeps one entry per patient per
// draw and the account's cap per release day.
func (s *Service) EnterDraw(ctx context.Context, a Actor, in EntryInput) (EntryView, error) {
	if err := s.requireAccount(a); err != nil {
		return EntryView{}, err
	}
	now := s.now()
	var v EntryView
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		rec, sess, err := s.boundPatientSession(ctx, tx, a, in.PatientID, in.SessionID)
		if err != nil {
			return nil, err
		}
		rel, err := s.releaseOf(ctx, tx, sess)
		if err != nil {
			return nil, err
		}
		if err := release.CheckEntry(now, rel); err != nil {
			return nil, err
		}
		mine, err := tx.EntriesOf(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range mine {
			if e.SessionID == sess.ID && e.PatientID == rec.ID {
				v = entryView(e, rel, 0)
				return nil, nil // a repeat: the same entry, nothing gained
			}
		}
		// A blocked account enters nothing; a held one's entry is stored
		// held: out of the draw unless a reviewer approves the account
		// while the entry window is open (risk.go).
		held, refuse, err := riskGate(ctx, tx, a.ID, true)
		if refuse != nil || err != nil {
			return refuse, err
		}
		if err := s.referralGate(ctx, tx, rec.ID, sess, now); err != nil { // referral.go
			return nil, err
		}
		if refuse, err := s.checkRebook(ctx, tx, a, sess, "draw.enter", now); refuse != nil || err != nil {
			return refuse, err
		}
		b := fairslot.Booking{PatientID: rec.ID, AccountID: a.ID, Channel: fairslot.Online}
		if err := s.eligible(ctx, tx, &b, sess, now); err != nil {
			return err, nil // keep the risk events this request recorded
		}
		salt := make([]byte, 16)
		rand.Read(salt)
		e := fairslot.Entry{SessionID: sess.ID, PatientID: rec.ID, AccountID: a.ID, Hash: release.EntryHash(sess.ID, salt, rec.Ref), CreatedAt: now, Held: held}
		err = tx.Savepoint(ctx, func() error {
			return tx.InsertEntry(ctx, &e, rel.Opens.In(s.Location).Format(time.DateOnly), s.Release.EntriesPerAccount)
		})
		switch {
		case fairslot.ErrorKind(err) == fairslot.Conflict:
			return fairslot.E(fairslot.Conflict, "error.draw.entered_elsewhere", "this patient has already entered this draw from another account"), nil
		case fairslot.ErrorKind(err) == fairslot.Limited:
			return err, nil
		case err != nil:
			return nil, err
		}
		v = entryView(e, rel, 0)
		detail := map[string]string{"session": fmt.Sprint(sess.ID), "patient": fmt.Sprint(rec.ID)}
		if held {
			detail["held"] = "risk"
		}
		if err := s.record(ctx, tx, a, "draw.enter", fmt.Sprintf("entry:%d", e.ID), detail); err != nil {
			return nil, err
		}
		return nil, s.bookRisk(ctx, tx, a, storage.RiskEnter, sess, rec.ID, nil)
	})
	return v, err
}

// boundPatientSession reads a patient bound to the caller's account and a
// session.
func (s *Service) boundPatientSession(ctx context.Context, tx storage.Tx, a Actor, patientID, sessionID int64) (storage.PatientRecord, fairslot.Session, error) {
	if err := s.requireConsent(ctx, tx, a); err != nil { // rights.go
		return storage.PatientRecord{}, fairslot.Session{}, err
	}
	if ok, err := tx.Bound(ctx, a.ID, patientID); err != nil || !ok {
		return storage.PatientRecord{}, fairslot.Session{}, firstErr(err, fairslot.E(fairslot.NotFound, "error.patient.not_yours", "no such patient on your account").On("patient_id"))
	}
	rec, err := tx.Patient(ctx, patientID)
	if err != nil {
		return rec, fairslot.Session{}, err
	}
	sess, err := tx.Session(ctx, sessionID)
	if err == nil && sess.Cancelled() {
		err = storage.ErrSessionCancelled // the database refuses it too
	}
	return rec, sess, err
}

func entryView(e fairslot.Entry, rel fairslot.Release, of int) EntryView {
	return EntryView{ID: e.ID, SessionID: e.SessionID, PatientID: e.PatientID, Hash: hex.EncodeToString(e.Hash), EnteredAt: e.CreatedAt,
		Drawn: !rel.Drawn.IsZero(), Rank: e.Rank, Of: of, Outcome: e.Outcome, Reason: e.Reason, BookingID: e.BookingID,
		Commitment: hex.EncodeToString(rel.Commitment), Held: e.Held}
}

// Entries lists the caller's draw entries, with results once drawn.
func (s *Service) Entries(ctx context.Context, a Actor) (out []EntryView, err error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	now := s.now()
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		es, err := tx.EntriesOf(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, e := range es {
			rel, err := tx.Release(ctx, e.SessionID)
			if err != nil {
				return err
			}
			of := 0
			if !rel.Drawn.IsZero() {
				if of, err = tx.EntryCount(ctx, e.SessionID); err != nil {
					return err
				}
			}
			v := entryView(e, rel, of)
			if err := s.describeEntry(ctx, tx, &v, rel, now); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// DrawSummary is what a draw did.
type DrawSummary struct {
	SessionID int64  `json:"session_id"`
	Entries   int    `json:"entries"`
	Won       int    `json:"won"`
	Lost      int    `json:"lost"`
	Skipped   int    `json:"skipped"`
	Seed      string `json:"seed"`
}

// RunDraw runs a session's draw by hand (an admin, or the CLI as System).
func (s *Service) RunDraw(ctx context.Context, a Actor, sessionID int64) (DrawSummary, error) {
	if a.Kind != systemKind {
		if err := s.requireStaff(a, fairslot.ActDraw); err != nil {
			return DrawSummary{}, err
		}
	}
	var sum DrawSummary
	err := s.Store.Update(ctx, func(tx storage.Tx) (err error) {
		sum, err = s.draw(ctx, tx, a, sessionID, s.now())
		return err
	})
	if err == nil {
		s.wakeOutbox() // the results' messages
	}
	return sum, err
}

// RunDueDraws runs every draw whose entry window has closed, each in its own
// transaction; it returns how many ran.
func (s *Service) RunDueDraws(ctx context.Context) (int, error) {
	var due []int64
	if err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		due, err = tx.DueDraws(ctx, s.now())
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range due {
		sum, err := s.RunDraw(ctx, System, id)
		if fairslot.ErrorKind(err) == fairslot.Conflict {
			continue // another node ran it first
		}
		if err != nil {
			return n, fmt.Errorf("draw of session %d: %w", id, err)
		}
		s.Log.Info("draw run", "session", id, "entries", sum.Entries, "won", sum.Won, "skipped", sum.Skipped)
		n++
	}
	return n, nil
}

// draw runs a due draw in tx: entries in the order the seed gives; each one
// the rules allow takes the next open slot as a held booking to pay within
// the win hold; those the rules refuse are skipped with the reason; once the
// slots are gone the rest lose and join the session's waitlist in draw
// order. The results and the published record are stored once: a second run
// (another node) fails with a Conflict and changes nothing.
func (s *Service) draw(ctx context.Context, tx storage.Tx, a Actor, sessionID int64, now time.Time) (DrawSummary, error) {
	sum := DrawSummary{SessionID: sessionID}
	rel, err := tx.Release(ctx, sessionID)
	if err != nil {
		return sum, err
	}
	if !release.DrawDue(now, rel) {
		if !rel.Drawn.IsZero() {
			return sum, fairslot.E(fairslot.Conflict, "error.draw.already_run", "this session's draw has already run")
		}
		return sum, fairslot.E(fairslot.Conflict, "error.draw.not_due", "this session has no draw due (entries close at %s)", rel.EntryCloses.Format("2006-01-02 15:04")).With(rel.EntryCloses)
	}
	sess, err := tx.Session(ctx, sessionID)
	if err != nil {
		return sum, err
	}
	sealed, err := tx.ReleaseSeed(ctx, sessionID)
	if err != nil {
		return sum, err
	}
	seedHex, err := s.Vault.Open(seedField(sessionID), sealed)
	if err != nil {
		return sum, err
	}
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		return sum, fmt.Errorf("draw seed: %w", err)
	}
	if err := s.expire(ctx, tx, sessionID, now); err != nil {
		return sum, err
	}
	stored, err := tx.Entries(ctx, sessionID)
	if err != nil {
		return sum, err
	}
	// Entries still held for review take no part: not ordered, not in the
	// published record; each is recorded skipped, with why (risk.go).
	entries, held := splitHeld(stored)
	hashes := make([][]byte, len(entries))
	for i, e := range entries {
		hashes[i] = e.Hash
	}
	rec := release.Record{Version: 1, SessionID: sessionID, DrawnAt: now.UTC(), Commitment: rel.Commitment, Seed: seed, Slots: []int{}}
	out := false // no open slot left
	results := make([]fairslot.Entry, 0, len(entries))
	for rank, i := range release.Order(seed, hashes) {
		e := entries[i]
		e.Rank, e.Outcome = rank+1, fairslot.Lost
		res := release.Result{Entry: e.Hash, Rank: e.Rank}
		var slot fairslot.Slot
		if !out {
			slot, e.BookingID, err = s.offerTo(ctx, tx, e.PatientID, e.AccountID, sess, s.Release.WinDeadline(now, sess), now)
			switch {
			case err == nil && e.BookingID == 0:
				out = true
			case err == nil:
				e.Outcome, res.Slot = fairslot.Won, slot.Number
				rec.Slots = append(rec.Slots, slot.Number)
				if err := s.record(ctx, tx, a, "draw.win", fmt.Sprintf("booking:%d", e.BookingID),
					map[string]string{"session": fmt.Sprint(sessionID), "entry": fmt.Sprint(e.ID), "rank": fmt.Sprint(e.Rank), "slot": fmt.Sprint(slot.Number)}); err != nil {
					return sum, err
				}
			case refusal(err):
				e.Outcome, e.Reason = fairslot.Skipped, fairslot.ErrorMessage(err)
			default:
				return sum, err
			}
		}
		if e.Outcome == fairslot.Lost {
			w := fairslot.WaitlistEntry{SessionID: sessionID, DoctorID: sess.DoctorID, Date: sess.Date, PatientID: e.PatientID, AccountID: e.AccountID, CreatedAt: now}
			if err := tx.Savepoint(ctx, func() error { return tx.JoinWaitlist(ctx, &w) }); err != nil && fairslot.ErrorKind(err) != fairslot.Conflict {
				return sum, err
			}
		}
		if err := s.tellDrawResult(ctx, tx, sess, e, len(entries), slot, s.Release.WinDeadline(now, sess)); err != nil {
			return sum, err
		}
		results = append(results, e)
		res.Outcome, res.Reason = e.Outcome, e.Reason
		rec.Allocation = append(rec.Allocation, res)
		switch e.Outcome {
		case fairslot.Won:
			sum.Won++
		case fairslot.Lost:
			sum.Lost++
		default:
			sum.Skipped++
		}
	}
	for _, e := range held {
		e.Outcome, e.Reason = fairslot.Skipped, heldReason
		if err := s.tellDrawResult(ctx, tx, sess, e, len(entries), fairslot.Slot{}, time.Time{}); err != nil {
			return sum, err
		}
		results = append(results, e)
		sum.Skipped++
	}
	slices.SortFunc(hashes, bytes.Compare)
	for _, h := range hashes {
		rec.Entries = append(rec.Entries, h)
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return sum, err
	}
	if err := tx.FinishDraw(ctx, sessionID, now, js, results); err != nil {
		return sum, err
	}
	sum.Entries, sum.Seed = len(entries), hex.EncodeToString(seed)
	return sum, s.record(ctx, tx, a, "draw.run", fmt.Sprintf("session:%d", sessionID), map[string]string{
		"entries": fmt.Sprint(sum.Entries), "won": fmt.Sprint(sum.Won), "lost": fmt.Sprint(sum.Lost), "skipped": fmt.Sprint(sum.Skipped),
		"commitment": hex.EncodeToString(rel.Commitment), "seed": sum.Seed})
}

// refusal reports whether err is the rules or the database refusing a
// patient a place (a limit, a suspension, a place already held), as opposed
// to a failure.
func refusal(err error) bool {
	k := fairslot.ErrorKind(err)
	return k == fairslot.Limited || k == fairslot.Conflict || riskRefusal(err)
}

// offerTo gives a patient a held booking in sess to pay by deadline, through
// the same rules as a booking. A zero booking id with no error means no open
// slot is left; a refusal error means the rules or the database refused this
// patient (nothing was written).
func (s *Service) offerTo(ctx context.Context, tx storage.Tx, patientID, accountID int64, sess fairslot.Session, deadline, now time.Time) (fairslot.Slot, int64, error) {
	// An account held or blocked since it entered or joined is offered
	// nothing: a place handed to it now could not be taken back.
	if _, refuse, err := riskGate(ctx, tx, accountID, false); refuse != nil || err != nil {
		return fairslot.Slot{}, 0, firstErr(err, refuse)
	}
	slot, err := tx.FreeSlot(ctx, storage.SlotQuery{SessionID: sess.ID, Now: now, Embargoed: true})
	if fairslot.ErrorKind(err) == fairslot.Conflict {
		return slot, 0, nil
	} else if err != nil {
		return slot, 0, err
	}
	b := fairslot.Booking{PatientID: patientID, AccountID: accountID, Channel: fairslot.Online, Status: fairslot.Held, HeldUntil: deadline}
	err = tx.Savepoint(ctx, func() error { return s.take(ctx, tx, &b, sess, slot, now) })
	return slot, b.ID, err
}

// DrawRecord returns the published record of a session's draw.
func (s *Service) DrawRecord(ctx context.Context, sessionID int64) (rec release.Record, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		js, err := tx.DrawRecord(ctx, sessionID)
		if err != nil {
			return fairslot.E(fairslot.NotFound, "error.draw.no_record", "this session has no draw record (yet)")
		}
		return json.Unmarshal(js, &rec)
	})
	return rec, err
}

// SessionRelease returns a session's release as anyone may see it.
func (s *Service) SessionRelease(ctx context.Context, sessionID int64) (v ReleaseView, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		sess, err := tx.Session(ctx, sessionID)
		if err != nil {
			return err
		}
		v, err = s.releaseView(ctx, tx, sess, s.now())
		return err
	})
	return v, err
}

// freed passes the slot booking b gave up to the waitlist: its head gets a
// held booking with a payment deadline, then the next if the head cannot
// take it. With nobody waiting (or the waitlist closed) a general slot stays
// out of first-come booking for a random delay, so that a cancel and an
// instant re-booking under another name cannot meet. A reserved slot goes
// back to its quota.
func (s *Service) freed(ctx context.Context, tx storage.Tx, b fairslot.Booking, now time.Time) error {
	slot, err := tx.Slot(ctx, b.SlotID)
	if err != nil || slot.Quota != fairslot.QuotaGeneral || !now.Before(slot.End) {
		return err
	}
	sess, err := tx.Session(ctx, b.SessionID)
	if err != nil {
		return err
	}
	if offered, err := s.offerWaitlist(ctx, tx, sess, now); err != nil || offered {
		return err
	}
	var d time.Duration
	s.random(func(r *mrand.Rand) { d = s.Release.FreedDelay(r) })
	return tx.EmbargoSlot(ctx, slot.ID, now.Add(d))
}

// offerWaitlist offers a free slot of sess to the first waitlisted patient
// the rules allow, closing the entries of those they do not; it reports
// whether an offer was made.
func (s *Service) offerWaitlist(ctx context.Context, tx storage.Tx, sess fairslot.Session, now time.Time) (bool, error) {
	deadline, ok := s.Release.OfferDeadline(now, sess)
	if !ok {
		return false, nil
	}
	if rel, err := s.releaseOf(ctx, tx, sess); err != nil || (rel.Mode == fairslot.Draw && rel.Drawn.IsZero()) {
		return false, err // the slots of a draw not yet run go to its entries
	}
	wl, err := tx.Waitlist(ctx, sess.DoctorID, sess.Date)
	if err != nil {
		return false, err
	}
	for _, w := range wl {
		if w.SessionID != 0 && w.SessionID != sess.ID {
			continue
		}
		slot, id, err := s.offerTo(ctx, tx, w.PatientID, w.AccountID, sess, deadline, now)
		switch {
		case err == nil && id == 0:
			return false, nil
		case err == nil:
			if err := tx.CloseWaitlist(ctx, w.ID, now, "offered", id); err != nil {
				return false, err
			}
			msg, err := s.heldMessage(ctx, tx, notify.KeyWaitlistOffer, sess, slot, w.PatientID, deadline, nil)
			if err != nil {
				return false, err
			}
			if err := s.tellAccount(ctx, tx, w.AccountID, msg); err != nil {
				return false, err
			}
			return true, s.record(ctx, tx, System, "waitlist.offer", fmt.Sprintf("booking:%d", id),
				map[string]string{"waitlist": fmt.Sprint(w.ID), "session": fmt.Sprint(sess.ID), "slot": fmt.Sprint(slot.Number), "pay_by": deadline.Format(time.RFC3339)})
		case riskRefusal(err):
			continue // its place on the waitlist stays, for when a reviewer approves it
		case refusal(err):
			reason := "skipped: " + fairslot.ErrorMessage(err)
			if err := tx.CloseWaitlist(ctx, w.ID, now, reason, 0); err != nil {
				return false, err
			}
			if err := s.record(ctx, tx, System, "waitlist.skip", fmt.Sprintf("waitlist:%d", w.ID), map[string]string{"reason": reason}); err != nil {
				return false, err
			}
		default:
			return false, err
		}
	}
	return false, nil
}

// offerHeldBack offers the free slots of the sessions w waits for to the
// waitlist, one offer at a time, while offers are taken.
func (s *Service) offerHeldBack(ctx context.Context, tx storage.Tx, w fairslot.WaitlistEntry, now time.Time) error {
	sessions, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: w.DoctorID, From: w.Date, To: w.Date})
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if w.SessionID != 0 && sess.ID != w.SessionID {
			continue
		}
		for {
			offered, err := s.offerWaitlist(ctx, tx, sess, now)
			if err != nil {
				return err
			}
			if !offered {
				break
			}
		}
	}
	return nil
}

// WaitInput asks for a place on a waitlist: for one session, or for any
// session of its doctor on its date.
type WaitInput struct {
	SessionID  int64 `json:"session_id"`
	PatientID  int64 `json:"patient_id"`
	AnySession bool  `json:"any_session,omitempty"`
}

// WaitView is a waitlist entry with the patient's position: 1 is next.
type WaitView struct {
	fairslot.WaitlistEntry
	Position int       `json:"position,omitempty"`
	Closes   time.Time `json:"closes"`
	// What the patient reads (portal.go): the session (or doctor and
	// date), the masked patient, where the place stands (waiting,
	// offered, left, skipped, closed) and an offer's booking to pay.
	Session SessionLabel `json:"session"`
	Patient string       `json:"patient"`
	State   string       `json:"state"`
	Offer   *Offer       `json:"offer,omitempty"`
}

// JoinWaitlist puts a patient on the waitlist of a full session. The same
// rules apply as for a booking; one place per patient per doctor and date.
func (s *Service) JoinWaitlist(ctx context.Context, a Actor, in WaitInput) (WaitView, error) {
	if err := s.requireAccount(a); err != nil {
		return WaitView{}, err
	}
	now := s.now()
	var id int64
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		rec, sess, err := s.boundPatientSession(ctx, tx, a, in.PatientID, in.SessionID)
		if err != nil {
			return nil, err
		}
		if err := s.referralGate(ctx, tx, rec.ID, sess, now); err != nil { // referral.go
			return nil, err
		}
		if err := s.Release.CheckJoin(now, sess); err != nil {
			return nil, err
		}
		rel, err := s.releaseOf(ctx, tx, sess)
		if err != nil {
			return nil, err
		}
		if rel.Mode == fairslot.Draw && rel.Drawn.IsZero() {
			return nil, fairslot.E(fairslot.Conflict, "error.waitlist.draw", "this session is released by a draw; enter the draw, and if you lose you join the waitlist")
		}
		ws, err := tx.Windows(ctx, sess.ID, now)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if w.Remaining > 0 {
				return nil, fairslot.E(fairslot.Conflict, "error.waitlist.free", "this session still has free places; book one instead")
			}
		}
		// A blocked account joins nothing; a held one may wait, but is
		// offered no place while held (offerTo).
		if _, refuse, err := riskGate(ctx, tx, a.ID, true); refuse != nil || err != nil {
			return refuse, err
		}
		if refuse, err := s.checkRebook(ctx, tx, a, sess, "waitlist.join", now); refuse != nil || err != nil {
			return refuse, err
		}
		b := fairslot.Booking{PatientID: rec.ID, AccountID: a.ID, Channel: fairslot.Online}
		if err := s.eligible(ctx, tx, &b, sess, now); err != nil {
			return err, nil // keep the risk events this request recorded
		}
		w := fairslot.WaitlistEntry{SessionID: sess.ID, DoctorID: sess.DoctorID, Date: sess.Date, PatientID: rec.ID, AccountID: a.ID, CreatedAt: now}
		if in.AnySession {
			w.SessionID = 0
		}
		if err := tx.JoinWaitlist(ctx, &w); err != nil {
			return nil, err
		}
		id = w.ID
		if err := s.record(ctx, tx, a, "waitlist.join", fmt.Sprintf("waitlist:%d", w.ID),
			map[string]string{"session": fmt.Sprint(sess.ID), "any_session": fmt.Sprint(in.AnySession), "patient": fmt.Sprint(rec.ID)}); err != nil {
			return nil, err
		}
		// A slot freed while nobody waited is held back from first come;
		// now somebody waits, it goes to the waitlist instead.
		return nil, s.offerHeldBack(ctx, tx, w, now)
	})
	if err != nil {
		return WaitView{}, err
	}
	return s.waitView(ctx, a, id)
}

// LeaveWaitlist takes the caller's patient off a waitlist.
func (s *Service) LeaveWaitlist(ctx context.Context, a Actor, id int64) (WaitView, error) {
	if err := s.requireAccount(a); err != nil {
		return WaitView{}, err
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if _, err := ownWaitlistEntry(ctx, tx, a, id); err != nil {
			return err
		}
		if err := tx.CloseWaitlist(ctx, id, s.now(), "left", 0); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "waitlist.leave", fmt.Sprintf("waitlist:%d", id), nil)
	})
	if err != nil {
		return WaitView{}, err
	}
	return s.waitView(ctx, a, id)
}

// Waitlists lists the caller's waitlist entries with their positions.
func (s *Service) Waitlists(ctx context.Context, a Actor) (out []WaitView, err error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	now := s.now()
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		ws, err := tx.WaitlistOf(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, w := range ws {
			v, err := s.position(ctx, tx, w)
			if err != nil {
				return err
			}
			if err := s.describeWait(ctx, tx, &v, now); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// ownWaitlistEntry reads a waitlist entry of the caller's account; another
// account's entry is reported as not found, so ids cannot be probed.
func ownWaitlistEntry(ctx context.Context, tx storage.Tx, a Actor, id int64) (fairslot.WaitlistEntry, error) {
	w, err := tx.WaitlistEntry(ctx, id)
	if err == nil && w.AccountID != a.ID {
		return w, fairslot.E(fairslot.NotFound, "error.waitlist.not_found", "waitlist entry not found")
	}
	return w, err
}

func (s *Service) waitView(ctx context.Context, a Actor, id int64) (v WaitView, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		w, err := ownWaitlistEntry(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if v, err = s.position(ctx, tx, w); err != nil {
			return err
		}
		return s.describeWait(ctx, tx, &v, s.now())
	})
	return v, err
}

// position counts the open entries ahead of w that a freed slot would reach
// first: older ones for the same session or for any session.
func (s *Service) position(ctx context.Context, tx storage.Tx, w fairslot.WaitlistEntry) (WaitView, error) {
	v := WaitView{WaitlistEntry: w}
	day, err := time.ParseInLocation(time.DateOnly, w.Date, s.Location)
	if err != nil {
		return v, fmt.Errorf("waitlist entry %d: %w", w.ID, err)
	}
	v.Closes = s.Release.WaitlistCloses(day)
	if !w.Open() {
		return v, nil
	}
	wl, err := tx.Waitlist(ctx, w.DoctorID, w.Date)
	if err != nil {
		return v, err
	}
	for _, o := range wl {
		if o.ID <= w.ID && (o.SessionID == 0 || w.SessionID == 0 || o.SessionID == w.SessionID) {
			v.Position++
		}
	}
	return v, nil
}

// checkRebook applies the anti-laundering rules before a booking, entry or
// waitlist place by a in sess: each match with a recent cancellation in the
// session (same account, device or address) is a risk event, and the same
// account within the cool-down is refused. The caller commits the risk
// events even when it returns refuse.
func (s *Service) checkRebook(ctx context.Context, tx storage.Tx, a Actor, sess fairslot.Session, action string, now time.Time) (refuse, err error) {
	since := now.Add(-max(time.Duration(s.Release.CancelCooldown), time.Duration(s.Release.RiskWindow)))
	cs, err := tx.Cancellations(ctx, sess.ID, since)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	refuse, risks := s.Release.CheckRebook(now, cs, release.Who{AccountID: a.ID, Device: s.clientHash("device", a.Device), Addr: s.clientHash("addr", a.Addr)})
	if len(risks) > 0 {
		r := storage.RiskEvent{At: now, Kind: "rebook_after_cancel", AccountID: a.ID, SessionID: sess.ID,
			Detail: map[string]string{"same": strings.Join(risks, ","), "action": action, "refused": fmt.Sprint(refuse != nil)}}
		if err := tx.AppendRisk(ctx, &r); err != nil {
			return nil, err
		}
		s.Log.Warn("risk: re-booking soon after a cancellation", "account", a.ID, "session", sess.ID, "same", r.Detail["same"], "refused", refuse != nil)
	}
	return refuse, nil
}

// clientHash is a keyed hash of a client's device or address, so that they
// can be compared without being stored.
func (s *Service) clientHash(kind, v string) string {
	if v == "" {
		return ""
	}
	return hex.EncodeToString(s.Vault.Hash("client_"+kind, v))
}

// RiskEvents lists risk events after an id, for review.
func (s *Service) RiskEvents(ctx context.Context, a Actor, after int64) (out []storage.RiskEvent, err error) {
	if err := s.requireStaff(a, fairslot.ActRisk); err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		out, err = tx.RiskEvents(ctx, after, 500)
		return err
	})
	return out, err
}

// ExtraSlotInput asks for an extra slot (加号) in a session, with a reason.
type ExtraSlotInput struct {
	Reason string `json:"reason"`
}

// ExtraSlotReasonField is where an extra slot's reason is sealed.
func ExtraSlotReasonField(slotID int64) vault.Field {
	return vault.Field{Table: "extra_slot_reasons", Row: fmt.Sprint(slotID), Column: "reason"}
}

// AddExtraSlot adds a slot at the end of a session for a patient the doctor
// agrees to see beyond the schedule; it is taken only by an on-site
// registration marked extra. The reason is required and audited.
func (s *Service) AddExtraSlot(ctx context.Context, a Actor, sessionID int64, in ExtraSlotInput) (fairslot.Slot, error) {
	if err := s.requireStaff(a, fairslot.ActAddSlot); err != nil {
		return fairslot.Slot{}, err
	}
	reason := strings.TrimSpace(in.Reason)
	if n := len([]rune(reason)); n < 2 || n > 500 {
		return fairslot.Slot{}, fairslot.E(fairslot.Invalid, "error.slot.reason", "an extra slot needs a reason of 2 to 500 characters")
	}
	now := s.now()
	var slot fairslot.Slot
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		sess, err := s.sessionInScope(ctx, tx, a, sessionID)
		if err != nil {
			return err
		}
		if !now.Before(sess.End) {
			return fairslot.E(fairslot.Conflict, "error.session.ended", "the session has ended")
		}
		start := sess.End.Add(-fairslot.MaxWindow)
		if start.Before(sess.Start) {
			start = sess.Start
		}
		slot = fairslot.Slot{SessionID: sess.ID, Start: start, End: sess.End, Quota: fairslot.QuotaExtra}
		if err := tx.AddSlot(ctx, &slot); err != nil {
			return err
		}
		// The reason is free text that may name a patient or a condition:
		// sealed in its own row, not in the audit record, which is kept
		// for ever and never re-sealed.
		sealed, err := s.Vault.Seal(ExtraSlotReasonField(slot.ID), reason)
		if err != nil {
			return err
		}
		if err := tx.InsertExtraSlotReason(ctx, slot.ID, sealed); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "slot.add_extra", fmt.Sprintf("slot:%d", slot.ID),
			map[string]string{"session": fmt.Sprint(sess.ID), "number": fmt.Sprint(slot.Number), "reason": "sealed"})
	})
	return slot, err
}
