package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) ReferralRules(ctx context.Context) ([]referral.Rule, error) {
	return all(ctx, t, func(r pgx.Rows) (rule referral.Rule, err error) {
		var dept, doctor *int64
		var validity int64
		err = r.Scan(&dept, &doctor, &rule.Required, &validity)
		rule.DepartmentID, rule.DoctorID, rule.Validity = deref(dept), deref(doctor), time.Duration(validity)*time.Millisecond
		return rule, err
	}, `SELECT department_id, doctor_id, required, validity_ms FROM referral_rules r
		WHERE id = (SELECT max(id) FROM referral_rules l WHERE l.department_id IS NOT DISTINCT FROM r.department_id AND l.doctor_id IS NOT DISTINCT FROM r.doctor_id)
		ORDER BY doctor_id, department_id`)
}

func (t *tx) PutReferralRule(ctx context.Context, r referral.Rule, staffID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO referral_rules (department_id, doctor_id, required, validity_ms, staff_id, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6)`, nullIf(r.DepartmentID), nullIf(r.DoctorID), r.Required, r.Validity.Milliseconds(), nullIf(staffID), ms(at))
	return err
}

const referralColumns = `r.id, r.ref, r.account_id, r.patient_id, r.doctor_id, r.description_sealed, r.status, r.for_session_id,
	r.shuts_ms, r.decide_by_ms, r.decided_by, r.decided_ms, r.reason_sealed, r.redirect_department_id, r.valid_until_ms,
	r.screened, r.screen_score, r.screen_label, r.screen_note_sealed, r.created_ms,
	(SELECT count(*) FROM referral_images i WHERE i.referral_id = r.id)`

func (t *tx) scanReferral(row interface{ Scan(...any) error }) (storage.Referral, error) {
	var r storage.Referral
	var session, decidedBy, redirect, shuts, decided, valid *int64
	var decideBy, created int64
	err := row.Scan(&r.ID, &r.Ref, &r.AccountID, &r.PatientID, &r.DoctorID, &r.DescriptionSealed, &r.Status, &session,
		&shuts, &decideBy, &decidedBy, &decided, &r.ReasonSealed, &redirect, &valid,
		&r.Screened, &r.ScreenScore, &r.ScreenLabel, &r.ScreenNoteSealed, &created, &r.Images)
	r.ForSessionID, r.DecidedBy, r.RedirectDepartmentID = deref(session), deref(decidedBy), deref(redirect)
	r.Shuts, r.DecidedAt, r.ValidUntil = t.atNull(shuts), t.atNull(decided), t.atNull(valid)
	r.DecideBy, r.CreatedAt = t.at(decideBy), t.at(created)
	return r, err
}

func (t *tx) InsertReferral(ctx context.Context, r *storage.Referral) error {
	id, err := t.id(ctx, `INSERT INTO referrals (ref, account_id, patient_id, doctor_id, description_sealed, for_session_id,
		shuts_ms, decide_by_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		r.Ref, r.AccountID, r.PatientID, r.DoctorID, r.DescriptionSealed, nullIf(r.ForSessionID), msOrNil(r.Shuts), ms(r.DecideBy), ms(r.CreatedAt))
	if isUnique(err, "referrals_one_pending") {
		return fairslot.E(fairslot.Conflict, "error.referral.pending", "this patient already has a request waiting for this doctor")
	}
	if err != nil {
		return err
	}
	r.ID, r.Status = id, referral.Pending
	return nil
}

func (t *tx) Referral(ctx context.Context, id int64) (storage.Referral, error) {
	r, err := t.scanReferral(t.tx.QueryRow(ctx, `SELECT `+referralColumns+` FROM referrals r WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fairslot.E(fairslot.NotFound, "error.referral.not_found", "no such referral request")
	}
	return r, err
}

func (t *tx) ReferralsOf(ctx context.Context, accountID int64) ([]storage.Referral, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.account_id = $1 ORDER BY r.id DESC LIMIT 200`, accountID)
}

func (t *tx) PatientReferrals(ctx context.Context, patientID, doctorID int64) ([]storage.Referral, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.patient_id = $1 AND r.doctor_id = $2 ORDER BY r.id DESC LIMIT 50`, patientID, doctorID)
}

func (t *tx) PendingReferrals(ctx context.Context, q storage.ReferralQueue) ([]storage.Referral, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 500
	}
	return all(ctx, t, func(r pgx.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r JOIN doctors d ON d.id = r.doctor_id
		WHERE r.status = 'pending' AND ($1::bigint = 0 OR r.doctor_id = $1) AND ($2::bigint = 0 OR d.department_id = $2)
		ORDER BY r.decide_by_ms, r.id LIMIT $3`, q.DoctorID, q.DepartmentID, limit)
}

func (t *tx) DueReferrals(ctx context.Context, now time.Time, limit int) ([]storage.Referral, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.status = 'pending' AND r.decide_by_ms <= $1
		ORDER BY r.decide_by_ms, r.id LIMIT $2`, ms(now), limit)
}

func (t *tx) UnscreenedReferrals(ctx context.Context, limit int) ([]storage.Referral, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.status = 'pending' AND NOT r.screened ORDER BY r.id LIMIT $1`, limit)
}

// The online role has no UPDATE on referrals: 0036_referrals.sql's
// referral_decide and referral_screen.
func (t *tx) DecideReferral(ctx context.Context, d storage.ReferralDecision) error {
	if _, err := t.Referral(ctx, d.ID); err != nil {
		return err
	}
	return t.call(ctx, fairslot.E(fairslot.Conflict, "error.referral.decided", "this request was decided meanwhile"),
		`SELECT referral_decide($1, $2, $3, $4, $5, $6, $7)`,
		d.ID, d.Status, nullIf(d.StaffID), ms(d.At), d.ReasonSealed, nullIf(d.RedirectDepartmentID), msOrNil(d.ValidUntil))
}

func (t *tx) ScreenReferral(ctx context.Context, id int64, s referral.Suggestion, noteSealed []byte) error {
	return t.call(ctx, fairslot.Errorf(fairslot.Conflict, "referral request %d was screened or decided meanwhile", id),
		`SELECT referral_screen($1, $2, $3, $4)`, id, s.Score, s.Label, noteSealed)
}

func (t *tx) InsertReferralImage(ctx context.Context, img *storage.ReferralImage) error {
	id, err := t.id(ctx, `INSERT INTO referral_images (ref, referral_id, n, type, width, height, data_sealed, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, img.Ref, img.ReferralID, img.N, img.Type, img.Width, img.Height, img.DataSealed, ms(img.CreatedAt))
	if isUnique(err, "referral_images_referral_id_n_key") {
		return fairslot.Errorf(fairslot.Conflict, "referral request %d already has image %d", img.ReferralID, img.N)
	}
	if err != nil {
		return err
	}
	img.ID = id
	return nil
}

func (t *tx) scanReferralImage(r interface{ Scan(...any) error }, data bool) (storage.ReferralImage, error) {
	var img storage.ReferralImage
	var created int64
	dest := []any{&img.ID, &img.Ref, &img.ReferralID, &img.N, &img.Type, &img.Width, &img.Height, &created}
	if data {
		dest = append(dest, &img.DataSealed)
	}
	err := r.Scan(dest...)
	img.CreatedAt = t.at(created)
	return img, err
}

func (t *tx) ReferralImages(ctx context.Context, referralID int64) ([]storage.ReferralImage, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.ReferralImage, error) { return t.scanReferralImage(r, false) },
		`SELECT id, ref, referral_id, n, type, width, height, created_ms FROM referral_images WHERE referral_id = $1 ORDER BY n`, referralID)
}

func (t *tx) ReferralImage(ctx context.Context, referralID int64, n int) (storage.ReferralImage, error) {
	img, err := t.scanReferralImage(t.tx.QueryRow(ctx, `SELECT id, ref, referral_id, n, type, width, height, created_ms, data_sealed
		FROM referral_images WHERE referral_id = $1 AND n = $2`, referralID, n), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return img, fairslot.E(fairslot.NotFound, "error.referral.image_not_found", "no such image")
	}
	return img, err
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
