package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Risk signals that act (issue 17): every use case that binds, unbinds,
// books, enters a draw, cancels or pays appends a risk event in its own
// transaction, for the monitor (internal/riskwatch) to score; and the
// account's stored decision is enforced here, in the transaction, because
// a scalper's bot calls the API directly and never meets the front door's
// harder challenge.

// nudgeRisk tells the monitor that risk events were committed.
func (s *Service) nudgeRisk() {
	if s.Risk != nil {
		s.Risk.Nudge()
	}
}

// riskEvent appends a risk event of kind by account (who acted: a, or the
// account a staff member or the payment sweep acted for). detail carries
// only opaque ids; the client's device and address prefix are added as
// keyed hashes when a patient's own device sent the request — not a FHIR
// client's or a desk's, which stand in front of many accounts.
func (s *Service) riskEvent(ctx context.Context, tx storage.Tx, a Actor, kind string, account, sessionID int64, rec *storage.PatientRecord, detail map[string]string) error {
	if account == 0 {
		return nil // a walk-in: no account to score
	}
	d := map[string]string{}
	for k, v := range detail {
		if v != "" {
			d[k] = v
		}
	}
	if rec != nil && len(rec.IDIndex) > 0 {
		d["patient"] = hex.EncodeToString(rec.IDIndex)
	}
	if a.Kind == storage.AccountToken && a.ID == account && a.Client == "" {
		if h := s.clientHash("device", a.Device); h != "" {
			d["device"] = h
		}
		if h := s.clientHash("addr", a.Addr); h != "" {
			d["prefix"] = h
		}
	}
	return tx.AppendRisk(ctx, &storage.RiskEvent{At: s.now(), Kind: kind, AccountID: account, SessionID: sessionID, Detail: d})
}

// sessionDetail is what a booking, entry or cancellation event says of its
// session: the doctor, and the release its slots came out in.
func (s *Service) sessionDetail(ctx context.Context, tx storage.Tx, sess fairslot.Session) (map[string]string, error) {
	d := map[string]string{"doctor": strconv.FormatInt(sess.DoctorID, 10)}
	rel, err := s.releaseOf(ctx, tx, sess)
	if err != nil {
		return nil, err
	}
	if !rel.Opens.IsZero() {
		d["release"] = rel.Opens.UTC().Format(time.RFC3339)
	}
	return d, nil
}

// riskAction is the account's stored risk action ("allow" when none).
func riskAction(ctx context.Context, tx storage.Tx, accountID int64) (string, error) {
	r, err := tx.RiskAccount(ctx, accountID)
	switch {
	case fairslot.ErrorKind(err) == fairslot.NotFound:
		return "allow", nil
	case err != nil:
		return "", err
	}
	return r.Action, nil
}

// Refusals of an account the risk rules hold for review or block. Both say
// how to ask for a review: the account's page, or the registration desk.
var (
	errRiskBlocked = fairslot.E(fairslot.Forbidden, "error.risk.blocked",
		"this account is blocked because of unusual activity; ask for a review on your account page or at the registration desk")
	errRiskHeld = fairslot.E(fairslot.Forbidden, "error.risk.held",
		"this account's bookings are held for review because of unusual activity; draw entries are kept but take part only once approved. Ask for a review on your account page or at the registration desk")
)

// riskGate refuses a blocked account anything, and a held account a place
// it would take at once (a first-come booking, a waitlist offer); it
// reports whether a draw entry must be stored held.
func riskGate(ctx context.Context, tx storage.Tx, accountID int64, entry bool) (held bool, refuse, err error) {
	action, err := riskAction(ctx, tx, accountID)
	if err != nil {
		return false, nil, err
	}
	switch action {
	case "block":
		return false, errRiskBlocked, nil
	case "hold":
		if entry {
			return true, nil, nil
		}
		return false, errRiskHeld, nil
	}
	return false, nil, nil
}

// ReleaseHeldEntries un-holds an account's held draw entries whose entry
// window is still open, so that each takes part in its draw exactly as
// entered; entries of a closed window stay out (their draw may have run
// without them). The reviewer's use case calls it, in its transaction,
// when it approves an account; it is audited there with the count.
func (s *Service) ReleaseHeldEntries(ctx context.Context, tx storage.Tx, accountID int64) (int, error) {
	n, err := tx.ReleaseHeldEntries(ctx, accountID, s.now())
	if err != nil {
		return 0, fmt.Errorf("release held entries: %w", err)
	}
	return n, nil
}

// bookRisk appends a booking's or a draw entry's risk event: the patient,
// the doctor and the release the session's slots came out in.
func (s *Service) bookRisk(ctx context.Context, tx storage.Tx, a Actor, kind string, sess fairslot.Session, patientID int64, extra map[string]string) error {
	rec, err := tx.Patient(ctx, patientID)
	if err != nil {
		return err
	}
	d, err := s.sessionDetail(ctx, tx, sess)
	if err != nil {
		return err
	}
	for k, v := range extra {
		d[k] = v
	}
	return s.riskEvent(ctx, tx, a, kind, a.ID, sess.ID, &rec, d)
}

// cancelRisk appends a cancellation's risk event. Its "release" is when
// the freed place next goes out to everyone, if that is known and still
// ahead: the session's release, for a place booked before it (a desk's,
// a priority quota's) — what a cancellation timed just before it would
// hand to a waiting bot. The random delay a place freed after the release
// is held back for is not it: the canceller does not know it, so timing
// against it is no signal, and counting it would flag every fifth
// ordinary cancellation.
func (s *Service) cancelRisk(ctx context.Context, tx storage.Tx, a Actor, sess fairslot.Session, b fairslot.Booking, now time.Time) error {
	rec, err := tx.Patient(ctx, b.PatientID)
	if err != nil {
		return err
	}
	d := map[string]string{"doctor": strconv.FormatInt(sess.DoctorID, 10)}
	rel, err := s.releaseOf(ctx, tx, sess)
	if err != nil {
		return err
	}
	if rel.Opens.After(now) {
		d["release"] = rel.Opens.UTC().Format(time.RFC3339)
	}
	return s.riskEvent(ctx, tx, a, storage.RiskCancel, a.ID, sess.ID, &rec, d)
}

// heldReason is the result of a draw entry still held for review when its
// draw ran.
const heldReason = "held for review: the account's activity was unusual, and no reviewer approved it before the draw"

// splitHeld separates the draw's entries from those held for review.
func splitHeld(all []fairslot.Entry) (entries, held []fairslot.Entry) {
	for _, e := range all {
		if e.Held {
			held = append(held, e)
		} else {
			entries = append(entries, e)
		}
	}
	return entries, held
}

// riskRefusal reports whether err is a refusal by the risk rules.
func riskRefusal(err error) bool {
	return errors.Is(err, errRiskHeld) || errors.Is(err, errRiskBlocked)
}

// payRisk appends a settled payment's risk event, for the booking's
// account: the doctor, and — when the provider named who paid — a keyed
// hash of the provider and the payer's account there, never the account
// itself, so that one payer paying for many identities across accounts
// (the shared-payer signal) is seen without being stored. A payer is per
// provider: the same id at two providers is two payers.
func (s *Service) payRisk(ctx context.Context, tx storage.Tx, a Actor, b fairslot.Booking, provider, payer string) error {
	rec, err := tx.Patient(ctx, b.PatientID)
	if err != nil {
		return err
	}
	sess, err := tx.Session(ctx, b.SessionID)
	if err != nil {
		return err
	}
	d := map[string]string{"doctor": strconv.FormatInt(sess.DoctorID, 10)}
	if payer != "" {
		d["payer"] = s.clientHash("payer", provider+"\x00"+payer)
	}
	return s.riskEvent(ctx, tx, a, storage.RiskPay, b.AccountID, b.SessionID, &rec, d)
}

// RiskAccountView is an account's stored risk decision, as the staff (and
// fairsim's release storm) read it: when each action was first reached,
// and the reasons in English, heaviest first.
type RiskAccountView struct {
	AccountID int64                `json:"account_id"`
	Action    string               `json:"action"`
	Score     int                  `json:"score"`
	Reviewed  bool                 `json:"reviewed"`
	Since     map[string]time.Time `json:"since"`
	Reasons   []string             `json:"reasons"`
	Keys      []string             `json:"keys"`
	UpdatedAt time.Time            `json:"updated_at"`
}

// riskAccountsMax bounds one listing of risk decisions.
const riskAccountsMax = 10000

// RiskAccounts lists up to limit stored risk decisions whose action is min
// or worse ("" for challenge), the worst first, then the most recently
// changed: for the security role and admins.
func (s *Service) RiskAccounts(ctx context.Context, a Actor, min string, limit int) ([]RiskAccountView, error) {
	if err := s.requireStaff(a, fairslot.ActRisk); err != nil {
		return nil, err
	}
	if min == "" {
		min = "challenge"
	}
	if storage.RiskLevel(min) < 0 {
		return nil, fairslot.E(fairslot.Invalid, "error.risk.min", "no risk action %q: one of allow, challenge, limit, hold, block", min).On("min")
	}
	if limit <= 0 || limit > riskAccountsMax {
		limit = riskAccountsMax
	}
	out := []RiskAccountView{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		rs, err := tx.RiskAccounts(ctx, min, limit)
		for _, r := range rs {
			out = append(out, RiskAccountView{AccountID: r.AccountID, Action: r.Action, Score: r.Score, Reviewed: r.Reviewed,
				Since: r.Since, Reasons: r.Reasons, Keys: r.Keys, UpdatedAt: r.UpdatedAt})
		}
		return err
	})
	return out, err
}

// ClientHash is the keyed hash a risk event carries for a client's device
// (kind "device") or address prefix (kind "addr"): the risk monitor hashes
// the front door's requests with it, so that both name a client alike.
func (s *Service) ClientHash(kind, v string) string { return s.clientHash(kind, v) }
