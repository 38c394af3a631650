package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const fhirSubscriptionQuery = `SELECT s.id, s.client_id, s.criteria, s.doctor_id, s.department_id, s.reason, s.endpoint, s.base,
	s.status, s.error, s.created_ms, s.changed_ms FROM fhir_subscriptions s`

func (t *tx) scanFHIRSubscription(r interface{ Scan(...any) error }, extra ...any) (storage.FHIRSubscription, error) {
	var s storage.FHIRSubscription
	var doctor, dept sql.NullInt64
	var created, changed int64
	dest := append([]any{&s.ID, &s.ClientID, &s.Criteria, &doctor, &dept, &s.Reason, &s.Endpoint, &s.Base,
		&s.Status, &s.Error, &created, &changed}, extra...)
	if err := r.Scan(dest...); err != nil {
		return s, err
	}
	s.DoctorID, s.DepartmentID, s.CreatedAt, s.ChangedAt = doctor.Int64, dept.Int64, t.at(created), t.at(changed)
	return s, nil
}

func (t *tx) CreateFHIRSubscription(ctx context.Context, s storage.FHIRSubscription) error {
	_, err := t.exec(ctx, `INSERT INTO fhir_subscriptions (id, client_id, criteria, doctor_id, department_id, reason, endpoint,
		base, status, created_ms, changed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
		s.ID, s.ClientID, s.Criteria, nullIf(s.DoctorID), nullIf(s.DepartmentID), s.Reason, s.Endpoint, s.Base,
		ms(s.CreatedAt), ms(s.CreatedAt))
	if isUnique(err, "fhir_subscriptions.id") {
		return fairslot.Errorf(fairslot.Conflict, "a FHIR subscription with this id exists")
	}
	return err
}

func (t *tx) FHIRSubscription(ctx context.Context, id string) (storage.FHIRSubscription, error) {
	s, err := t.scanFHIRSubscription(t.queryRow(ctx, fhirSubscriptionQuery+` WHERE s.id = ?`, id))
	if err == sql.ErrNoRows {
		return s, fairslot.Errorf(fairslot.NotFound, "FHIR subscription not found")
	}
	return s, err
}

func (t *tx) ListFHIRSubscriptions(ctx context.Context, clientID string) ([]storage.FHIRSubscription, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.FHIRSubscription, error) { return t.scanFHIRSubscription(r) },
		fhirSubscriptionQuery+` WHERE s.status <> 'off' AND (? = '' OR s.client_id = ?) ORDER BY s.created_ms, s.id`, clientID, clientID)
}

func (t *tx) SetFHIRSubscriptionStatus(ctx context.Context, id, status, reason string, at time.Time) error {
	if _, err := t.FHIRSubscription(ctx, id); err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE fhir_subscriptions SET status = ?, error = ?, changed_ms = ?
		WHERE id = ? AND ((? = 'error' AND status = 'active') OR (? = 'off' AND status <> 'off'))`,
		status, reason, ms(at), id, status, status)
	return changedOne(res, err, "FHIR subscription %s cannot go to %s from where it is", id, status)
}

func (t *tx) FanOutFHIRChange(ctx context.Context, c storage.FHIRChange) (int, error) {
	var q string
	switch c.Kind {
	case "booking":
		q = `INSERT INTO fhir_deliveries (subscription_id, event_seq, focus, action, created_ms, next_attempt_ms)
		SELECT s.id, ?, ?, ?, ?, ? FROM fhir_subscriptions s, bookings b JOIN sessions se ON se.id = b.session_id
		WHERE b.id = ? AND s.status = 'active'
		AND (s.doctor_id IS NULL OR s.doctor_id = se.doctor_id) AND (s.department_id IS NULL OR s.department_id = b.department_id)
		AND NOT EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = s.client_id)
		ON CONFLICT (subscription_id, event_seq) DO NOTHING`
	case "waitlist":
		q = `INSERT INTO fhir_deliveries (subscription_id, event_seq, focus, action, created_ms, next_attempt_ms)
		SELECT s.id, ?, ?, ?, ?, ? FROM fhir_subscriptions s, waitlist w JOIN doctors d ON d.id = w.doctor_id
		WHERE w.id = ? AND s.status = 'active'
		AND (s.doctor_id IS NULL OR s.doctor_id = w.doctor_id) AND (s.department_id IS NULL OR s.department_id = d.department_id)
		AND NOT EXISTS (SELECT 1 FROM fhir_client_revocations r WHERE r.client_id = s.client_id)
		ON CONFLICT (subscription_id, event_seq) DO NOTHING`
	default:
		return 0, fmt.Errorf("fan out a FHIR change: unknown kind %q", c.Kind)
	}
	res, err := t.exec(ctx, q, c.Seq, c.Kind+":"+strconv.FormatInt(c.ID, 10), c.Action, ms(c.At), ms(c.At), c.ID)
	if err != nil {
		return 0, fmt.Errorf("fan out a FHIR change: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) DueFHIRDeliveries(ctx context.Context, now time.Time, limit int) ([]storage.FHIRDelivery, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.FHIRDelivery, error) {
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
		WHERE d.status = 'pending' AND d.next_attempt_ms <= ? ORDER BY d.next_attempt_ms, d.id LIMIT ?`, ms(now), limit)
}

func (t *tx) AttemptFHIRDelivery(ctx context.Context, id int64, attempts int, next time.Time) error {
	res, err := t.exec(ctx, `UPDATE fhir_deliveries SET attempts = ?, next_attempt_ms = ? WHERE id = ? AND status = 'pending' AND attempts = ?`,
		attempts, ms(next), id, attempts-1)
	return changedOne(res, err, "FHIR delivery %d changed since it was read", id)
}

func (t *tx) FinishFHIRDelivery(ctx context.Context, id int64, status storage.OutboxStatus, at time.Time, reason string) error {
	if status != storage.OutboxSent && status != storage.OutboxDead {
		return fmt.Errorf("finish FHIR delivery %d: status %q is not an end", id, status)
	}
	res, err := t.exec(ctx, `UPDATE fhir_deliveries SET status = ?, finished_ms = ?, error = ? WHERE id = ? AND status = 'pending'`,
		status, ms(at), reason, id)
	return changedOne(res, err, "FHIR delivery %d is not pending", id)
}

func (t *tx) FHIRDeliveries(ctx context.Context, subscriptionID string) ([]storage.FHIRDeliveryState, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.FHIRDeliveryState, error) {
		var d storage.FHIRDeliveryState
		err := r.Scan(&d.ID, &d.EventSeq, &d.Focus, &d.Action, &d.Status, &d.Attempts, &d.Error)
		return d, err
	}, `SELECT id, event_seq, focus, action, status, attempts, error FROM fhir_deliveries WHERE subscription_id = ? ORDER BY id`, subscriptionID)
}
