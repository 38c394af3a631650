package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
)

// Admin edits of the catalogue (issue 14 item 5): doctors change through
// update_doctor (the online role has no UPDATE); release rules are only
// added, the latest row of a department or doctor being its rule.

func (t *tx) UpdateDoctor(ctx context.Context, d fairslot.Doctor) error {
	return t.call(ctx, fairslot.Errorf(fairslot.NotFound, "doctor not found"), `SELECT update_doctor($1, $2, $3, $4)`,
		d.ID, d.Name, string(d.Title), d.Retired)
}

func (t *tx) ReleaseRules(ctx context.Context) ([]release.Rule, error) {
	return all(ctx, t, func(r pgx.Rows) (rule release.Rule, err error) {
		var mode string
		var window, jitter int64
		err = r.Scan(&rule.Department, &rule.DoctorID, &mode, &window, &jitter, &rule.ReservedPriority, &rule.ReservedReferral)
		rule.Mode = fairslot.ReleaseMode(mode)
		rule.Window, rule.Jitter = fairslot.Duration(time.Duration(window)*time.Millisecond), fairslot.Duration(time.Duration(jitter)*time.Millisecond)
		return rule, err
	}, `SELECT department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral FROM (
		SELECT DISTINCT ON (department, doctor_id) * FROM release_rules ORDER BY department, doctor_id, id DESC) latest
		WHERE NOT cleared ORDER BY doctor_id, department`)
}

func (t *tx) PutReleaseRule(ctx context.Context, r release.Rule, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO release_rules (department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Department, r.DoctorID, string(r.Mode), time.Duration(r.Window).Milliseconds(),
		time.Duration(r.Jitter).Milliseconds(), r.ReservedPriority, r.ReservedReferral, ms(at))
	return err
}

func (t *tx) ClearReleaseRule(ctx context.Context, department string, doctorID int64, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO release_rules (department, doctor_id, mode, window_ms, jitter_ms, reserved_priority, reserved_referral, cleared, created_ms)
		VALUES ($1, $2, 'first_come', 0, 0, 0, 0, true, $3)`, department, doctorID, ms(at))
	return err
}

func (t *tx) UpdateSession(ctx context.Context, id int64, room string, feeCents int64) error {
	return t.call(ctx, fairslot.Errorf(fairslot.NotFound, "session not found"), `SELECT update_session($1, $2, $3)`, id, room, feeCents)
}

// RemoveFreeSlots goes through remove_free_slots, which removes all n or
// none.
func (t *tx) RemoveFreeSlots(ctx context.Context, sessionID int64, start time.Time, n int) error {
	var got int64
	if err := t.tx.QueryRow(ctx, `SELECT remove_free_slots($1, $2, $3)`, sessionID, ms(start), n).Scan(&got); err != nil {
		return err
	}
	if got != int64(n) {
		return fairslot.E(fairslot.Conflict, "error.places.taken", "fewer places are free in that window than you asked to remove").On("places")
	}
	return nil
}

func (t *tx) UpdateCampus(ctx context.Context, c fairslot.Campus) error {
	return t.call(ctx, fairslot.Errorf(fairslot.NotFound, "campus not found"), `SELECT update_campus($1, $2)`, c.ID, c.Name)
}

func (t *tx) UpdateDepartment(ctx context.Context, d fairslot.Department) error {
	err := t.call(ctx, fairslot.Errorf(fairslot.NotFound, "department not found"), `SELECT update_department($1, $2, $3, $4)`,
		d.ID, d.CampusID, d.Code, d.Name)
	if isUnique(err, "departments_code_key") {
		return fairslot.E(fairslot.Conflict, "error.department.code_taken", "another department has the code %s", d.Code).On("code")
	}
	return err
}
