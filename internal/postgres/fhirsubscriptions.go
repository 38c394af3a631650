package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const fhirSubscriptionQuery = `SELECT s.id, s.client_id, s.criteria, s.doctor_id, s.department_id, s.reason, s.endpoint, s.base,
	s.status, s.error, s.created_ms, s.changed_ms FROM fhir_subscriptions s`

func (t *tx) scanFHIRSubscription(r pgx.Row, extra ...any) (storage.FHIRSubscription, error) {
	var s storage.FHIRSubscription
	var doctor, dept *int64
	var created, changed int64
	dest := append([]any{&s.ID, &s.ClientID, &s.Criteria, &doctor, &dept, &s.Reason, &s.Endpoint, &s.Base,
		&s.Status, &s.Error, &created, &changed}, extra...)
	if err := r.Scan(dest...); err != nil {
		return s, err
	}
	if doctor != nil {
		s.DoctorID = *doctor
	}
	if dept != nil {
		s.DepartmentID = *dept
	}
	s.CreatedAt, s.ChangedAt = t.at(created), t.at(changed)
	return s, nil
}

func (t *tx) CreateFHIRSubscription(ctx context.Context, s storage.FHIRSubscription) error {
	_, err := t.exec(ctx, `INSERT INTO fhir_subscriptions (id, client_id, criteria, doctor_id, department_id, reason, endpoint,
		base, status, created_ms, changed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)`,
		s.ID, s.ClientID, s.Criteria, nullIf(s.DoctorID), nullIf(s.DepartmentID), s.Reason, s.Endpoint, s.Base, ms(s.CreatedAt))
	if isUnique(err, "fhir_subscriptions_pkey") {
		return fairslot.Errorf(fairslot.Conflict, "a FHIR subscription with this id exists")
	}
	return err
}

func (t *tx) FHIRSubscription(ctx context.Context, id string) (storage.FHIRSubscription, error) {
	s, err := t.scanFHIRSubscription(t.tx.QueryRow(ctx, fhirSubscriptionQuery+` WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fairslot.Errorf(fairslot.NotFound, "FHIR subscription not found")
	}
	return s, err
}

func (t *tx) ListFHIRSubscriptions(ctx context.Context, clientID string) ([]storage.FHIRSubscription, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.FHIRSubscription, error) { return t.scanFHIRSubscription(r) },
		fhirSubscriptionQuery+` WHERE s.status <> 'off' AND ($1 = '' OR s.client_id = $1) ORDER BY s.created_ms, s.id`, clientID)
}

// The online role has no UPDATE on the subscriptions or deliveries:
// 0031_fhir_subscriptions.sql's functions.
func (t *tx) SetFHIRSubscriptionStatus(ctx context.Context, id, status, reason string, at time.Time) error {
	if _, err := t.FHIRSubscription(ctx, id); err != nil {
		return err
	}
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "FHIR subscription %s cannot go to %s from where it is", id, status),
		`SELECT fhir_subscription_status($1, $2, $3, $4)`, id, status, reason, ms(at))
}

func (t *tx) FanOutFHIRChange(ctx context.Context, c storage.FHIRChange) (int, error) {
	var q string
	switch c.Kind {
	case "booking":
		q = `INSERT INTO fhir_deliveries (subscription_id, event_seq, focus, action, created_ms, next_attempt_ms)
		SELECT s.id, $1, $2, $3, $4, $4 FROM fhir_subscriptions s, bookings b JOIN sessions se ON se.id = b.session_id
		WHERE b.id = $5 AND s.status = 'active'
		AND (s.doctor_id IS NULL OR s.doctor_id = se.doctor_id) AND (s.department_id IS NULL OR s.department_id = b.department_id)
		AND NOT EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = s.client_id)
		ON CONFLICT (subscription_id, event_seq) DO NOTHING`
	case "waitlist":
		q = `INSERT INTO fhir_deliveries (subscription_id, event_seq, focus, action, created_ms, next_attempt_ms)
		SELECT s.id, $1, $2, $3, $4, $4 FROM fhir_subscriptions s, waitlist w JOIN doctors d ON d.id = w.doctor_id
		WHERE w.id = $5 AND s.status = 'active'
		AND (s.doctor_id IS NULL OR s.doctor_id = w.doctor_id) AND (s.department_id IS NULL OR s.department_id = d.department_id)
		AND NOT EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = s.client_id)
		ON CONFLICT (subscription_id, event_seq) DO NOTHING`
	default:
		return 0, fmt.Errorf("fan out a FHIR change: unknown kind %q", c.Kind)
	}
	n, err := t.exec(ctx, q, c.Seq, c.Kind+":"+strconv.FormatInt(c.ID, 10), c.Action, ms(c.At), c.ID)
	if err != nil {
		return 0, fmt.Errorf("fan out a FHIR change: %w", err)
	}
	return int(n), nil
}

func (t *tx) DueFHIRDeliveries(ctx context.Context, now time.Time, limit int) ([]storage.FHIRDelivery, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.FHIRDelivery, error) {
		var d storage.FHIRDelivery
		var created int64
		var err error
		d.Subscription, err = t.scanFHIRSubscription(r, &d.ID, &d.EventSeq, &d.Focus, &d.Action, &created, &d.Attempts, &d.ClientRevoked)
		d.CreatedAt = t.at(created)
		return d, err
	}, `SELECT s.id, s.client_id, s.criteria, s.doctor_id, s.department_id, s.reason, s.endpoint, s.base,
		s.status, s.error, s.created_ms, s.changed_ms,
		d.id, d.event_seq, d.focus, d.action, d.created_ms, d.attempts,
		EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = s.client_id)
		FROM fhir_deliveries d JOIN fhir_subscriptions s ON s.id = d.subscription_id
		WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 ORDER BY d.next_attempt_ms, d.id LIMIT $2`, ms(now), limit)
}

func (t *tx) AttemptFHIRDelivery(ctx context.Context, id int64, attempts int, next time.Time) error {
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "FHIR delivery %d changed since it was read", id),
		`SELECT fhir_delivery_attempt($1, $2, $3)`, id, attempts, ms(next))
}

func (t *tx) FinishFHIRDelivery(ctx context.Context, id int64, status storage.OutboxStatus, at time.Time, reason string) error {
	if status != storage.OutboxSent && status != storage.OutboxDead {
		return fmt.Errorf("finish FHIR delivery %d: status %q is not an end", id, status)
	}
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "FHIR delivery %d is not pending", id),
		`SELECT fhir_delivery_finish($1, $2, $3, $4)`, id, string(status), ms(at), reason)
}

func (t *tx) FHIRDeliveries(ctx context.Context, subscriptionID string) ([]storage.FHIRDeliveryState, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.FHIRDeliveryState, error) {
		var d storage.FHIRDeliveryState
		var status string
		err := r.Scan(&d.ID, &d.EventSeq, &d.Focus, &d.Action, &status, &d.Attempts, &d.Error)
		d.Status = storage.OutboxStatus(status)
		return d, err
	}, `SELECT id, event_seq, focus, action, status, attempts, error FROM fhir_deliveries WHERE subscription_id = $1 ORDER BY id`, subscriptionID)
}
