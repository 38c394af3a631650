package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) ReferralRules(ctx context.Context) ([]referral.Rule, error) {
	return all(ctx, t, func(r *sql.Rows) (rule referral.Rule, err error) {
		var dept, doctor sql.NullInt64
		var validity int64
		err = r.Scan(&dept, &doctor, &rule.Required, &validity)
		rule.DepartmentID, rule.DoctorID, rule.Validity = dept.Int64, doctor.Int64, time.Duration(validity)*time.Millisecond
		return rule, err
	}, `SELECT department_id, doctor_id, required, validity_ms FROM referral_rules r
		WHERE id = (SELECT max(id) FROM referral_rules l WHERE l.department_id IS r.department_id AND l.doctor_id IS r.doctor_id)
		ORDER BY doctor_id, department_id`)
}

func (t *tx) PutReferralRule(ctx context.Context, r referral.Rule, staffID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO referral_rules (department_id, doctor_id, required, validity_ms, staff_id, created_ms)
		VALUES (?, ?, ?, ?, ?, ?)`, nullIf(r.DepartmentID), nullIf(r.DoctorID), r.Required, r.Validity.Milliseconds(), nullIf(staffID), ms(at))
	return err
}

const referralColumns = `r.id, r.ref, r.account_id, r.patient_id, r.doctor_id, r.description_sealed, r.status, r.for_session_id,
	r.shuts_ms, r.decide_by_ms, r.decided_by, r.decided_ms, r.reason_sealed, r.redirect_department_id, r.valid_until_ms,
	r.screened, r.screen_score, r.screen_label, r.screen_note_sealed, r.created_ms,
	(SELECT count(*) FROM referral_images i WHERE i.referral_id = r.id)`

func (t *tx) scanReferral(row interface{ Scan(...any) error }) (storage.Referral, error) {
	var r storage.Referral
	var session, decidedBy, redirect, shuts, decided, valid sql.NullInt64
	var decideBy, created int64
	err := row.Scan(&r.ID, &r.Ref, &r.AccountID, &r.PatientID, &r.DoctorID, &r.DescriptionSealed, &r.Status, &session,
		&shuts, &decideBy, &decidedBy, &decided, &r.ReasonSealed, &redirect, &valid,
		&r.Screened, &r.ScreenScore, &r.ScreenLabel, &r.ScreenNoteSealed, &created, &r.Images)
	r.ForSessionID, r.DecidedBy, r.RedirectDepartmentID = session.Int64, decidedBy.Int64, redirect.Int64
	r.Shuts, r.DecidedAt, r.ValidUntil = t.atNull(shuts), t.atNull(decided), t.atNull(valid)
	r.DecideBy, r.CreatedAt = t.at(decideBy), t.at(created)
	return r, err
}

func (t *tx) InsertReferral(ctx context.Context, r *storage.Referral) error {
	var shuts any
	if !r.Shuts.IsZero() {
		shuts = ms(r.Shuts)
	}
	id, err := t.insert(ctx, `INSERT INTO referrals (ref, account_id, patient_id, doctor_id, description_sealed, for_session_id,
		shuts_ms, decide_by_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Ref, r.AccountID, r.PatientID, r.DoctorID, r.DescriptionSealed, nullIf(r.ForSessionID), shuts, ms(r.DecideBy), ms(r.CreatedAt))
	if isUnique(err, "referrals.patient_id") {
		return fairslot.E(fairslot.Conflict, "error.referral.pending", "this patient already has a request waiting for this doctor")
	}
	if err != nil {
		return err
	}
	r.ID, r.Status = id, referral.Pending
	return nil
}

func (t *tx) Referral(ctx context.Context, id int64) (storage.Referral, error) {
	r, err := t.scanReferral(t.queryRow(ctx, `SELECT `+referralColumns+` FROM referrals r WHERE r.id = ?`, id))
	if err == sql.ErrNoRows {
		return r, fairslot.E(fairslot.NotFound, "error.referral.not_found", "no such referral request")
	}
	return r, err
}

func (t *tx) ReferralsOf(ctx context.Context, accountID int64) ([]storage.Referral, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.account_id = ? ORDER BY r.id DESC LIMIT 200`, accountID)
}

func (t *tx) PatientReferrals(ctx context.Context, patientID, doctorID int64) ([]storage.Referral, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.patient_id = ? AND r.doctor_id = ? ORDER BY r.id DESC LIMIT 50`, patientID, doctorID)
}

func (t *tx) PendingReferrals(ctx context.Context, q storage.ReferralQueue) ([]storage.Referral, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 500
	}
	return all(ctx, t, func(r *sql.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r JOIN doctors d ON d.id = r.doctor_id
		WHERE r.status = 'pending' AND (? = 0 OR r.doctor_id = ?) AND (? = 0 OR d.department_id = ?)
		ORDER BY r.decide_by_ms, r.id LIMIT ?`, q.DoctorID, q.DoctorID, q.DepartmentID, q.DepartmentID, limit)
}

func (t *tx) DueReferrals(ctx context.Context, now time.Time, limit int) ([]storage.Referral, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.status = 'pending' AND r.decide_by_ms <= ?
		ORDER BY r.decide_by_ms, r.id LIMIT ?`, ms(now), limit)
}

func (t *tx) UnscreenedReferrals(ctx context.Context, limit int) ([]storage.Referral, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.Referral, error) { return t.scanReferral(r) },
		`SELECT `+referralColumns+` FROM referrals r WHERE r.status = 'pending' AND NOT r.screened ORDER BY r.id LIMIT ?`, limit)
}

func (t *tx) DecideReferral(ctx context.Context, d storage.ReferralDecision) error {
	if _, err := t.Referral(ctx, d.ID); err != nil {
		return err
	}
	var valid any
	if !d.ValidUntil.IsZero() {
		valid = ms(d.ValidUntil)
	}
	res, err := t.exec(ctx, `UPDATE referrals SET status = ?, decided_by = ?, decided_ms = ?, reason_sealed = ?,
		redirect_department_id = ?, valid_until_ms = ? WHERE id = ? AND status = 'pending' AND ? <> 'pending'`,
		d.Status, nullIf(d.StaffID), ms(d.At), d.ReasonSealed, nullIf(d.RedirectDepartmentID), valid, d.ID, d.Status)
	return decidedOne(res, err)
}

func decidedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fairslot.E(fairslot.Conflict, "error.referral.decided", "this request was decided meanwhile")
	}
	return nil
}

func (t *tx) ScreenReferral(ctx context.Context, id int64, s referral.Suggestion, noteSealed []byte) error {
	res, err := t.exec(ctx, `UPDATE referrals SET screened = 1, screen_score = ?, screen_label = ?, screen_note_sealed = ?
		WHERE id = ? AND status = 'pending' AND NOT screened`, s.Score, s.Label, noteSealed, id)
	return changedOne(res, err, "referral request %d was screened or decided meanwhile", id)
}

func (t *tx) InsertReferralImage(ctx context.Context, img *storage.ReferralImage) error {
	id, err := t.insert(ctx, `INSERT INTO referral_images (ref, referral_id, n, type, width, height, data_sealed, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, img.Ref, img.ReferralID, img.N, img.Type, img.Width, img.Height, img.DataSealed, ms(img.CreatedAt))
	if isUnique(err, "referral_images.referral_id") {
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
	return all(ctx, t, func(r *sql.Rows) (storage.ReferralImage, error) { return t.scanReferralImage(r, false) },
		`SELECT id, ref, referral_id, n, type, width, height, created_ms FROM referral_images WHERE referral_id = ? ORDER BY n`, referralID)
}

func (t *tx) ReferralImage(ctx context.Context, referralID int64, n int) (storage.ReferralImage, error) {
	img, err := t.scanReferralImage(t.queryRow(ctx, `SELECT id, ref, referral_id, n, type, width, height, created_ms, data_sealed
		FROM referral_images WHERE referral_id = ? AND n = ?`, referralID, n), true)
	if err == sql.ErrNoRows {
		return img, fairslot.E(fairslot.NotFound, "error.referral.image_not_found", "no such image")
	}
	return img, err
}
