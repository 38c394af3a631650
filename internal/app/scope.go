package app

import (
	"context"
	"fmt"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Scope is where a member of staff may work (issue 12 item 4): a doctor on
// their own doctor record's sessions only (none while unlinked), a nurse or
// desk in their campus or department when the hospital set one.
type Scope struct {
	DoctorID, CampusID, DepartmentID int64
}

// staffActor completes a staff actor from the stored login: role and scope
// are read on every request, so a change takes effect at once, and a login
// locked by the access limits is refused here, whatever token it holds.
func (s *Service) staffActor(ctx context.Context, tx storage.Tx, a *Actor, st fairslot.Staff) error {
	a.Role = st.Role
	a.Scope = Scope{DoctorID: st.DoctorID, CampusID: st.CampusID, DepartmentID: st.DepartmentID}
	locked, err := tx.StaffAccessLocked(ctx, st.ID)
	if err != nil {
		return err
	}
	if !locked.IsZero() {
		return errAccessLocked
	}
	return nil
}

var errAccessLocked error = fairslot.E(fairslot.Forbidden, "error.access.locked", "this account is locked after too many reveals or look-ups; a security officer must unlock it")

// inScope is the one check every staff use case on a clinic makes: may a
// work on session sess? Background work and set-up (not staff) may.
func (s *Service) inScope(ctx context.Context, tx storage.Tx, a Actor, sess fairslot.Session) error {
	if a.Kind != storage.StaffToken {
		return nil
	}
	if a.Role == fairslot.DoctorRole && (a.Scope.DoctorID == 0 || a.Scope.DoctorID != sess.DoctorID) {
		return fairslot.E(fairslot.Forbidden, "error.scope.doctor", "a doctor acts only on the sessions of their own doctor record")
	}
	return s.departmentInScope(ctx, tx, a, sess.DepartmentID)
}

// departmentInScope checks a may work in a department: what an admin
// limited to a campus or department may change of the catalogue and the
// release rules (its doctors, sessions and rules), as inScope is for a
// clinic.
func (s *Service) departmentInScope(ctx context.Context, tx storage.Tx, a Actor, departmentID int64) error {
	if a.Kind != storage.StaffToken || (a.Scope.CampusID == 0 && a.Scope.DepartmentID == 0) {
		return nil
	}
	d, err := tx.Department(ctx, departmentID)
	if err != nil {
		return err
	}
	return a.Scope.Reaches(d)
}

// Reaches returns nil when the scope's campus and department (if set)
// include department d, else the Forbidden error that says why: the rule
// the use cases apply, and the pages too, to show a form only where it
// may be used.
func (sc Scope) Reaches(d fairslot.Department) error {
	switch {
	case sc.DepartmentID != 0 && sc.DepartmentID != d.ID:
		return fairslot.E(fairslot.Forbidden, "error.scope.department", "this login works in another department")
	case sc.CampusID != 0 && sc.CampusID != d.CampusID:
		return fairslot.E(fairslot.Forbidden, "error.scope.campus", "this login works at another campus")
	}
	return nil
}

// sessionInScope loads a session and checks a may work on it.
func (s *Service) sessionInScope(ctx context.Context, tx storage.Tx, a Actor, id int64) (fairslot.Session, error) {
	sess, err := tx.Session(ctx, id)
	if err != nil {
		return sess, err
	}
	return sess, s.inScope(ctx, tx, a, sess)
}

// patientInScope checks a may reach a patient: through one of the
// patient's bookings in a session a may work on. A login with no scope
// other than a doctor's reaches every patient (and the limits bound it).
func (s *Service) patientInScope(ctx context.Context, tx storage.Tx, a Actor, patientID int64) (fairslot.Session, error) {
	var none fairslot.Session
	if a.Kind != storage.StaffToken || (a.Role != fairslot.DoctorRole && a.Scope == (Scope{})) {
		return none, nil
	}
	bs, err := tx.PatientBookings(ctx, patientID)
	if err != nil {
		return none, err
	}
	for _, b := range bs {
		sess, err := tx.Session(ctx, b.SessionID)
		if err != nil {
			return none, err
		}
		if s.inScope(ctx, tx, a, sess) == nil {
			return sess, nil
		}
	}
	return none, fairslot.E(fairslot.Forbidden, "error.scope.patient", "this patient has no booking where this login works")
}

// SetStaffScope changes a login's doctor link, campus and department: fn
// gets the login's scope and changes what it means to (zero clears a
// field). It is what 'fairslot staff scope' does; audited.
func (s *Service) SetStaffScope(ctx context.Context, a Actor, username string, fn func(*Scope)) (fairslot.Staff, error) {
	var st fairslot.Staff
	if a.Kind != systemKind {
		if err := s.requireStaff(a, fairslot.ActStaff); err != nil {
			return st, err
		}
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if st, _, err = tx.StaffByUsername(ctx, username); err != nil {
			return err
		}
		sc := Scope{DoctorID: st.DoctorID, CampusID: st.CampusID, DepartmentID: st.DepartmentID}
		fn(&sc)
		switch {
		case sc.DoctorID < 0 || sc.CampusID < 0 || sc.DepartmentID < 0:
			return fairslot.Errorf(fairslot.Invalid, "doctor, campus and department are positive ids (0 clears)")
		case sc.DoctorID != 0 && st.Role != fairslot.DoctorRole:
			return fairslot.Errorf(fairslot.Invalid, "only a doctor's login links to a doctor record; %s is %s", username, st.Role)
		}
		if sc.DoctorID != 0 {
			if _, err := tx.Doctor(ctx, sc.DoctorID); err != nil {
				return err
			}
		}
		if sc.DepartmentID != 0 {
			d, err := tx.Department(ctx, sc.DepartmentID)
			if err != nil {
				return err
			}
			if sc.CampusID != 0 && d.CampusID != sc.CampusID {
				return fairslot.Errorf(fairslot.Invalid, "department %d is not at campus %d", sc.DepartmentID, sc.CampusID)
			}
		}
		if err := tx.SetStaffScope(ctx, st.ID, sc.DoctorID, sc.CampusID, sc.DepartmentID); err != nil {
			if fairslot.ErrorKind(err) == fairslot.Internal && sc.CampusID != 0 {
				return fairslot.Errorf(fairslot.Invalid, "no campus %d", sc.CampusID) // the foreign key
			}
			return err
		}
		st.DoctorID, st.CampusID, st.DepartmentID = sc.DoctorID, sc.CampusID, sc.DepartmentID
		return s.record(ctx, tx, a, "staff.scope", fmt.Sprintf("staff:%d", st.ID), map[string]string{
			"doctor": fmt.Sprint(sc.DoctorID), "campus": fmt.Sprint(sc.CampusID), "department": fmt.Sprint(sc.DepartmentID)})
	})
	return st, err
}
