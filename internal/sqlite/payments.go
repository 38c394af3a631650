package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const paymentColumns = `key, booking_id, amount_cents, provider, provider_ref, status, attempts, created_ms, updated_ms`

func (t *tx) scanPayment(r interface{ Scan(...any) error }) (storage.Payment, error) {
	var p storage.Payment
	var created, updated int64
	err := r.Scan(&p.Key, &p.BookingID, &p.AmountCents, &p.Provider, &p.ProviderRef, &p.Status, &p.Attempts, &created, &updated)
	if err == sql.ErrNoRows {
		return p, fairslot.Errorf(fairslot.NotFound, "payment not found")
	}
	p.CreatedAt, p.UpdatedAt = t.at(created), t.at(updated)
	return p, err
}

func (t *tx) Payment(ctx context.Context, key string) (storage.Payment, error) {
	return t.scanPayment(t.queryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE key = ?`, key))
}

func (t *tx) PaymentOf(ctx context.Context, bookingID int64) (storage.Payment, error) {
	return t.scanPayment(t.queryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE booking_id = ? AND status IN ('pending', 'settled')`, bookingID))
}

func (t *tx) InsertPayment(ctx context.Context, p storage.Payment) error {
	updated := p.UpdatedAt
	if updated.IsZero() {
		updated = p.CreatedAt
	}
	_, err := t.exec(ctx, `INSERT INTO payments (key, booking_id, amount_cents, provider, provider_ref, status, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Key, p.BookingID, p.AmountCents, p.Provider, p.ProviderRef, p.Status, ms(p.CreatedAt), ms(updated))
	switch {
	case isUnique(err, "payments.key"):
		return fairslot.Errorf(fairslot.Conflict, "this payment key was used for another payment")
	case isUnique(err, "payments.booking_id"):
		return fairslot.Errorf(fairslot.Conflict, "this booking is already paid or has a payment in progress")
	case isTrigger(err):
		return fairslot.Errorf(fairslot.Conflict, "a payment starts pending, or settled onto a confirmed booking")
	}
	return err
}

func (t *tx) MovePayment(ctx context.Context, key string, from, to storage.PaymentStatus, m storage.PaymentMove) error {
	res, err := t.exec(ctx, `UPDATE payments SET status = ?, updated_ms = ?, attempts = 0,
		provider_ref = CASE WHEN ? = '' THEN provider_ref ELSE ? END
		WHERE key = ? AND status = ?`, to, ms(m.At), m.ProviderRef, m.ProviderRef, key, from)
	if isTrigger(err) {
		return fairslot.Errorf(fairslot.Conflict, "a payment cannot move from %s to %s", from, to)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the payment is no longer %s", from)
	}
	return nil
}

func (t *tx) PaymentAttempt(ctx context.Context, key string, at time.Time) error {
	res, err := t.exec(ctx, `UPDATE payments SET attempts = attempts + 1, updated_ms = ? WHERE key = ?`, ms(at), key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "payment not found")
	}
	return nil
}

func (t *tx) DuePayments(ctx context.Context, provider string, before time.Time, limit int) ([]storage.Payment, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.Payment, error) { return t.scanPayment(r) },
		`SELECT `+paymentColumns+` FROM payments WHERE status IN ('pending', 'refunding') AND provider = ? AND updated_ms <= ?
		ORDER BY updated_ms, key LIMIT ?`, provider, ms(before), limit)
}
