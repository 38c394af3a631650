package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/audit"
	"github.com/fairslot/fairslot/internal/storage"
)

// FHIR Subscriptions (issue 16, item 4): a system client asks to be told
// when Appointments change. The hook is the audit log: every change to a
// booking or a waitlist place is recorded in the transaction that makes it
// (record, app.go), and the same call fans it out to the matching active
// subscriptions as pending deliveries, keyed by the audit record's seq —
// so a change and its notifications commit or roll back together, no use
// case calls anything of its own, and the database keeps one delivery per
// change and subscription. The FHIR package's deliverer sends them.

// fhirChangeActions are the audit actions that change a booking's or a
// waitlist place's Appointment. Not queue.recall (the same called patient
// called again), nor outage.entered (its check-in or walk-in is recorded
// as such), nor payments' own records (booking.pay is the change).
var fhirChangeActions = map[string]bool{
	"booking.hold": true, "booking.pay": true, "booking.cancel": true, "booking.expire": true,
	"booking.check_in": true, "booking.walk_in": true, "booking.no_show": true,
	"queue.call": true, "queue.complete": true, "queue.missed": true,
	"draw.win": true, "waitlist.offer": true,
	"waitlist.join": true, "waitlist.leave": true, "waitlist.skip": true,
}

// fanOutFHIR writes the deliveries of an audited change, if it is one.
func fanOutFHIR(ctx context.Context, tx storage.Tx, e *audit.Event) error {
	if !fhirChangeActions[e.Action] {
		return nil
	}
	kind, id, ok := strings.Cut(e.Subject, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || (kind != "booking" && kind != "waitlist") {
		return nil
	}
	_, err = tx.FanOutFHIRChange(ctx, storage.FHIRChange{Seq: e.Seq, Kind: kind, ID: n, Action: e.Action, At: e.At})
	return err
}

// FHIRSubscriptionInput is a subscription a client asks for, its criteria
// already parsed by the facade.
type FHIRSubscriptionInput struct {
	Criteria     string
	DoctorID     int64 // 0: any
	DepartmentID int64 // 0: any
	Reason       string
	Endpoint     string // checked by the facade (scheme, address)
	Base         string // the facade's URL as the client reached it
}

// CreateFHIRSubscription stores an active subscription of the actor's
// client: only a FHIR client has one (an admin's session has no endpoint
// to be trusted with). The doctor and department must exist.
func (s *Service) CreateFHIRSubscription(ctx context.Context, a Actor, in FHIRSubscriptionInput) (storage.FHIRSubscription, error) {
	if a.Kind != fhirClientKind {
		return storage.FHIRSubscription{}, fairslot.Errorf(fairslot.Forbidden, "a Subscription belongs to a registered system client (SMART Backend Services)")
	}
	if in.Reason == "" || len(in.Reason) > 500 {
		return storage.FHIRSubscription{}, fairslot.Errorf(fairslot.Invalid, "a Subscription needs a reason of at most 500 bytes")
	}
	now := s.now()
	sub := storage.FHIRSubscription{ID: randomID(), ClientID: a.Client, Criteria: in.Criteria, DoctorID: in.DoctorID,
		DepartmentID: in.DepartmentID, Reason: in.Reason, Endpoint: in.Endpoint, Base: in.Base, Status: storage.FHIRSubActive,
		CreatedAt: now, ChangedAt: now}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if in.DoctorID != 0 {
			if _, err := tx.Doctor(ctx, in.DoctorID); fairslot.ErrorKind(err) == fairslot.NotFound {
				return fairslot.Errorf(fairslot.Invalid, "the criteria name Practitioner/%d, which does not exist", in.DoctorID)
			} else if err != nil {
				return err
			}
		}
		if in.DepartmentID != 0 {
			if _, err := tx.Department(ctx, in.DepartmentID); fairslot.ErrorKind(err) == fairslot.NotFound {
				return fairslot.Errorf(fairslot.Invalid, "the criteria name a department that does not exist")
			} else if err != nil {
				return err
			}
		}
		if err := tx.CreateFHIRSubscription(ctx, sub); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "fhir.subscription.create", "fhir-subscription:"+sub.ID,
			map[string]string{"criteria": in.Criteria, "endpoint": in.Endpoint})
	})
	return sub, err
}

// FHIRSubscription returns a subscription the actor may see: a client its
// own (another's is NotFound, as if it did not exist), a hospital-wide
// admin any.
func (s *Service) FHIRSubscription(ctx context.Context, a Actor, id string) (storage.FHIRSubscription, error) {
	var sub storage.FHIRSubscription
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) { sub, err = tx.FHIRSubscription(ctx, id); return err })
	if err == nil && a.Kind == fhirClientKind && sub.ClientID != a.Client {
		return storage.FHIRSubscription{}, fairslot.Errorf(fairslot.NotFound, "FHIR subscription not found")
	}
	return sub, err
}

// FHIRSubscriptions lists the subscriptions the actor may see that are not
// deleted.
func (s *Service) FHIRSubscriptions(ctx context.Context, a Actor) ([]storage.FHIRSubscription, error) {
	var out []storage.FHIRSubscription
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) {
		client := a.Client
		if a.Kind != fhirClientKind {
			client = ""
		}
		out, err = tx.ListFHIRSubscriptions(ctx, client)
		return err
	})
	return out, err
}

// DeleteFHIRSubscription turns a subscription off for good: its pending
// deliveries are not sent (the deliverer drops them). Gone if it was
// deleted before.
func (s *Service) DeleteFHIRSubscription(ctx context.Context, a Actor, id string) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		sub, err := tx.FHIRSubscription(ctx, id)
		if err == nil && a.Kind == fhirClientKind && sub.ClientID != a.Client {
			err = fairslot.Errorf(fairslot.NotFound, "FHIR subscription not found")
		}
		if err != nil {
			return err
		}
		if sub.Status == storage.FHIRSubOff {
			return fairslot.Errorf(fairslot.Gone, "this Subscription was deleted")
		}
		if err := tx.SetFHIRSubscriptionStatus(ctx, id, storage.FHIRSubOff, "", s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "fhir.subscription.delete", "fhir-subscription:"+id, nil)
	})
}

// FailFHIRDelivery ends a delivery that will not be sent, with why, and —
// when fail is set (its attempts are spent, or the receiver refused it for
// good) — puts its subscription in error with the same reason, audited: a
// subscription in error gets nothing more until its client makes a new
// one. A delivery of a subscription off or in error, or of a revoked
// client, is dropped with fail unset.
func (s *Service) FailFHIRDelivery(ctx context.Context, d storage.FHIRDelivery, reason string, fail bool) error {
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.FinishFHIRDelivery(ctx, d.ID, storage.OutboxDead, now, reason); err != nil {
			return err
		}
		if !fail {
			return nil
		}
		err := tx.SetFHIRSubscriptionStatus(ctx, d.Subscription.ID, storage.FHIRSubError, reason, now)
		if fairslot.ErrorKind(err) == fairslot.Conflict {
			return nil // deleted, or put in error by another delivery meanwhile
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, System, "fhir.subscription.error", "fhir-subscription:"+d.Subscription.ID,
			map[string]string{"reason": reason, "client": d.Subscription.ClientID})
	})
}

// FHIRSubscriptionKey is the HMAC-SHA256 key a subscription's deliveries
// are signed with: derived from the keyset's pinned key and the
// subscription's random id, so every node has it, nothing secret is
// stored, a copied database cannot forge a notification, and key rotation
// does not change it. Its client is given it once, when the subscription
// is made.
func (s *Service) FHIRSubscriptionKey(id string) []byte {
	m := hmac.New(sha256.New, s.Vault.Key("fhir-subscription-signing"))
	m.Write([]byte(id))
	return m.Sum(nil)
}
