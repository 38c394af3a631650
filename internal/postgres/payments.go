package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

const paymentColumns = `key, booking_id, amount_cents, provider, provider_ref, status, attempts, created_ms, updated_ms`

func (t *tx) scanPayment(r pgx.Row) (storage.Payment, error) {
	var p storage.Payment
	var status string
	var created, updated int64
	err := r.Scan(&p.Key, &p.BookingID, &p.AmountCents, &p.Provider, &p.ProviderRef, &status, &p.Attempts, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fairslot.Errorf(fairslot.NotFound, "payment not found")
	}
	p.Status, p.CreatedAt, p.UpdatedAt = storage.PaymentStatus(status), t.at(created), t.at(updated)
	return p, err
}

func (t *tx) Payment(ctx context.Context, key string) (storage.Payment, error) {
	return t.scanPayment(t.tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE key = $1`, key))
}

func (t *tx) PaymentOf(ctx context.Context, bookingID int64) (storage.Payment, error) {
	return t.scanPayment(t.tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE booking_id = $1 AND status IN ('pending', 'settled')`, bookingID))
}

// paymentRefused reports an error raised by the payments_guard trigger.
func paymentRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "FS003"
}

func (t *tx) InsertPayment(ctx context.Context, p storage.Payment) error {
	updated := p.UpdatedAt
	if updated.IsZero() {
		updated = p.CreatedAt
	}
	_, err := t.exec(ctx, `INSERT INTO payments (key, booking_id, amount_cents, provider, provider_ref, status, created_ms, updated_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		p.Key, p.BookingID, p.AmountCents, p.Provider, p.ProviderRef, string(p.Status), ms(p.CreatedAt), ms(updated))
	switch {
	case isUnique(err, "payments_pkey"):
		return fairslot.Errorf(fairslot.Conflict, "this payment key was used for another payment")
	case isUnique(err, "payments_live"):
		return fairslot.Errorf(fairslot.Conflict, "this booking is already paid or has a payment in progress")
	case paymentRefused(err):
		return fairslot.Errorf(fairslot.Conflict, "a payment starts pending, or settled onto a confirmed booking")
	}
	return err
}

func (t *tx) MovePayment(ctx context.Context, key string, from, to storage.PaymentStatus, m storage.PaymentMove) error {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT move_payment($1, $2, $3, $4, $5)`, key, string(from), string(to), ms(m.At), m.ProviderRef).Scan(&n)
	if paymentRefused(err) {
		return fairslot.Errorf(fairslot.Conflict, "a payment cannot move from %s to %s", from, to)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the payment is no longer %s", from)
	}
	return nil
}

func (t *tx) PaymentAttempt(ctx context.Context, key string, at time.Time) error {
	var n int64
	if err := t.tx.QueryRow(ctx, `SELECT payment_attempt($1, $2)`, key, ms(at)).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "payment not found")
	}
	return nil
}

func (t *tx) DuePayments(ctx context.Context, provider string, before time.Time, limit int) ([]storage.Payment, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.Payment, error) { return t.scanPayment(r) },
		`SELECT `+paymentColumns+` FROM payments WHERE status IN ('pending', 'refunding') AND provider = $1 AND updated_ms <= $2
		ORDER BY updated_ms, key LIMIT $3`, provider, ms(before), limit)
}
