package app

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// The admin's edits of the hospital's sites (issue 14 item 5): campuses
// and their departments, added and changed, each audited with what it was
// before and after. Only an admin with no campus or department scope adds
// or renames a campus; one limited to a campus adds and changes the
// departments there.

// AddCampus adds a campus to the hospital.
func (s *Service) AddCampus(ctx context.Context, a Actor, c fairslot.Campus) (fairslot.Campus, error) {
	if err := s.requireSites(a, 0); err != nil {
		return c, err
	}
	c.ID, c.Name = 0, strings.TrimSpace(c.Name)
	if err := validName(c.Name); err != nil {
		return c, err
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		hs, err := tx.Hospitals(ctx)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return fairslot.E(fairslot.NotFound, "error.site.no_hospital", "no hospital")
		}
		c.HospitalID = hs[0].ID
		if err := tx.CreateCampus(ctx, &c); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "campus.create", fmt.Sprintf("campus:%d", c.ID), nil, c)
	})
	return c, err
}

// EditCampus renames a campus.
func (s *Service) EditCampus(ctx context.Context, a Actor, c fairslot.Campus) (fairslot.Campus, error) {
	if err := s.requireSites(a, c.ID); err != nil {
		return c, err
	}
	c.Name = strings.TrimSpace(c.Name)
	if err := validName(c.Name); err != nil {
		return c, err
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		cs, err := tx.Campuses(ctx)
		if err != nil {
			return err
		}
		before := fairslot.Campus{}
		for _, x := range cs {
			if x.ID == c.ID {
				before = x
			}
		}
		if before.ID == 0 {
			return fairslot.E(fairslot.NotFound, "error.site.no_campus", "campus not found")
		}
		c.HospitalID = before.HospitalID
		if c == before {
			return nil
		}
		if err := tx.UpdateCampus(ctx, c); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, a, "campus.edit", fmt.Sprintf("campus:%d", c.ID), before, c)
	})
	return c, err
}

// requireSites checks a may change campus (0: add one): an admin with no
// department scope, and no campus scope or that campus's.
func (s *Service) requireSites(a Actor, campus int64) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	if a.Kind != storage.StaffToken {
		return nil
	}
	return a.Scope.ReachesCampus(campus)
}

// ReachesCampus returns nil when the scope may change campus itself (0:
// add one): no department scope, and no campus scope or that campus's.
func (sc Scope) ReachesCampus(campus int64) error {
	if sc.DepartmentID != 0 || (sc.CampusID != 0 && sc.CampusID != campus) {
		return fairslot.E(fairslot.Forbidden, "error.scope.campus", "this login works at another campus")
	}
	return nil
}

// AddDepartment adds a department to a campus; its code (unique) is how
// release rules name it.
func (s *Service) AddDepartment(ctx context.Context, a Actor, d fairslot.Department) (fairslot.Department, error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return d, err
	}
	d.ID = 0
	d, err := validDepartment(d)
	if err != nil {
		return d, err
	}
	if err := s.departmentReached(a, d); err != nil {
		return d, err
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := campusExists(ctx, tx, d.CampusID); err != nil {
			return err
		}
		if err := tx.CreateDepartment(ctx, &d); err != nil {
			if fairslot.ErrorKind(err) == fairslot.Conflict {
				return errCodeTaken(d.Code)
			}
			return err
		}
		return s.recordChange(ctx, tx, a, "department.create", fmt.Sprintf("department:%d", d.ID), nil, d)
	})
	return d, err
}

// EditDepartment changes a department's name, code and campus. A code a
// release rule names stays (the rule would no longer apply): clear the
// rule first. Its doctors and sessions move with it, and so do the logins
// scoped to it at its old campus.
func (s *Service) EditDepartment(ctx context.Context, a Actor, d fairslot.Department) (fairslot.Department, error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return d, err
	}
	d, err := validDepartment(d)
	if err != nil {
		return d, err
	}
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		before, err := tx.Department(ctx, d.ID)
		if err != nil {
			return err
		}
		// Both where it is and where it goes must be the login's.
		if err := s.departmentReached(a, before); err != nil {
			return err
		}
		if err := s.departmentReached(a, d); err != nil {
			return err
		}
		if d == before {
			return nil
		}
		if err := campusExists(ctx, tx, d.CampusID); err != nil {
			return err
		}
		if d.Code != before.Code {
			p, err := s.rules(ctx, tx)
			if err != nil {
				return err
			}
			for _, r := range p.Rules {
				if r.Department == before.Code {
					return fairslot.E(fairslot.Conflict, "error.department.code_ruled", "a release rule names the code %s: clear it before changing the code", before.Code).On("code")
				}
			}
		}
		// Logins scoped to the department at its campus go with it (the
		// database moves them; migration 0033): each is audited here.
		var movers []fairslot.Staff
		if d.CampusID != before.CampusID {
			all, err := tx.ListStaff(ctx)
			if err != nil {
				return err
			}
			for _, st := range all {
				if st.DepartmentID == d.ID && st.CampusID == before.CampusID {
					movers = append(movers, st)
				}
			}
		}
		if err := tx.UpdateDepartment(ctx, d); err != nil {
			return err
		}
		for _, st := range movers {
			if err := s.record(ctx, tx, a, "staff.scope", fmt.Sprintf("staff:%d", st.ID), map[string]string{
				"doctor": fmt.Sprint(st.DoctorID), "campus": fmt.Sprint(d.CampusID), "department": fmt.Sprint(d.ID),
				"why": fmt.Sprintf("department:%d moved from campus:%d", d.ID, before.CampusID)}); err != nil {
				return err
			}
		}
		return s.recordChange(ctx, tx, a, "department.edit", fmt.Sprintf("department:%d", d.ID), before, d)
	})
	return d, err
}

// departmentReached is Scope.Reaches for a staff actor.
func (s *Service) departmentReached(a Actor, d fairslot.Department) error {
	if a.Kind != storage.StaffToken {
		return nil
	}
	return a.Scope.Reaches(d)
}

func campusExists(ctx context.Context, tx storage.Tx, id int64) error {
	cs, err := tx.Campuses(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == id {
			return nil
		}
	}
	return fairslot.E(fairslot.Invalid, "error.department.campus", "choose one of the hospital's campuses").On("campus_id")
}

// departmentCode is what a department's code may be: what a rule in the
// configuration file and an address can carry as it is.
var departmentCode = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,15}$`)

func validDepartment(d fairslot.Department) (fairslot.Department, error) {
	d.Name, d.Code = strings.TrimSpace(d.Name), strings.ToUpper(strings.TrimSpace(d.Code))
	if err := validName(d.Name); err != nil {
		return d, err
	}
	if !departmentCode.MatchString(d.Code) {
		return d, fairslot.E(fairslot.Invalid, "error.department.code", "the code is 1 to 16 letters, digits, - or _").On("code")
	}
	return d, nil
}

func validName(name string) error {
	if name == "" || len(name) > 80 {
		return fairslot.E(fairslot.Invalid, "error.site.name", "give the name (at most 80 bytes)").On("name")
	}
	return nil
}

func errCodeTaken(code string) error {
	return fairslot.E(fairslot.Conflict, "error.department.code_taken", "another department has the code %s", code).On("code")
}
