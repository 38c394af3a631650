package app

import (
	"context"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/staffauth"
	"github.com/fairslot/fairslot/internal/storage"
)

// Staff accounts are managed by an admin (fairslot.ActStaff) with a fresh
// second factor, or from the command line on the server (System, for the
// first admin); a security officer (fairslot.ActSecurity) may also unlock.
// Every change is audited with the account's id and what changed — never a
// password, code or secret.

// StaffAccount is a staff member with the state of their sign-in.
type StaffAccount struct {
	fairslot.Staff
	Enrolled     bool      `json:"enrolled"` // has a confirmed TOTP secret
	RecoveryLeft int       `json:"recovery_codes_left"`
	Disabled     bool      `json:"disabled"`
	Locked       bool      `json:"locked"`
	LockedAt     time.Time `json:"locked_at,omitzero"`
	// EnrolBy is when the account's enrolment code expires (zero if it has
	// none: enrolled, or the code was spent).
	EnrolBy time.Time `json:"enrolment_code_expires_at,omitzero"`
}

// manage checks that a may do act on staff accounts now.
func (s *Service) manage(a Actor, acts ...fairslot.Action) error {
	if a.Kind != systemKind {
		var err error
		for _, act := range acts {
			if err = s.requireStaff(a, act); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return s.requireFreshMFA(a)
}

// StaffAccounts lists the staff accounts (admins and security officers).
func (s *Service) StaffAccounts(ctx context.Context, a Actor) ([]StaffAccount, error) {
	if a.Kind != systemKind {
		if err := s.requireStaff(a, fairslot.ActStaff); err != nil {
			if err2 := s.requireStaff(a, fairslot.ActSecurity); err2 != nil {
				return nil, err
			}
		}
	}
	var out []StaffAccount
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		list, err := tx.ListStaff(ctx)
		if err != nil {
			return err
		}
		for _, st := range list {
			auth, err := tx.StaffAuth(ctx, st.ID)
			if err != nil {
				return err
			}
			out = append(out, StaffAccount{Staff: st, Enrolled: auth.TOTPSealed != nil, RecoveryLeft: auth.RecoveryLeft,
				Disabled: !auth.DisabledAt.IsZero(), Locked: !auth.LockedAt.IsZero(), LockedAt: auth.LockedAt, EnrolBy: auth.EnrolCodeExpires})
		}
		return nil
	})
	return out, err
}

// AddStaff adds a staff account under the password policy and returns its
// enrolment code, shown this once: the new member enrols a second factor at
// their first sign-in with the password and this code, which the admin
// hands over out of band.
func (s *Service) AddStaff(ctx context.Context, a Actor, st *fairslot.Staff, password string) (EnrolCode, error) {
	if err := s.manage(a, fairslot.ActStaff); err != nil {
		return EnrolCode{}, err
	}
	if !st.Role.Valid() {
		return EnrolCode{}, fairslot.E(fairslot.Invalid, "error.staff.role", "unknown role %q", st.Role).With()
	}
	if !validUsername(st.Username) || st.Name == "" || len(st.Name) > 100 {
		return EnrolCode{}, fairslot.E(fairslot.Invalid, "error.staff.username", "a username is 2 to 64 letters, digits, dots, dashes or underscores, and a name is needed")
	}
	if err := s.passwordPolicy(password, st.Username, st.Name); err != nil {
		return EnrolCode{}, err
	}
	hash := HashPassword(password)
	now := s.now()
	var code EnrolCode
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.CreateStaff(ctx, st, hash); err != nil {
			return err
		}
		if err := tx.SetStaffPassword(ctx, st.ID, hash, now); err != nil {
			return err
		}
		var h []byte
		code, h = s.newEnrolCode(st.ID, now)
		if err := tx.SetEnrolCode(ctx, st.ID, h, code.ExpiresAt); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "staff.add", fmt.Sprintf("staff:%d", st.ID), map[string]string{"role": string(st.Role)})
	})
	if err != nil {
		return EnrolCode{}, err
	}
	return code, nil
}

func validUsername(u string) bool {
	if len(u) < 2 || len(u) > 64 {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (s *Service) passwordPolicy(password string, inputs ...string) error {
	if password == DemoPassword {
		return staffauth.ErrWeakPassword
	}
	return staffauth.CheckPassword(password, append(inputs, s.staffPolicy().Issuer)...)
}

// SetStaffPassword gives an account a new password and ends its sessions.
func (s *Service) SetStaffPassword(ctx context.Context, a Actor, id int64, password string) error {
	if err := s.manage(a, fairslot.ActStaff); err != nil {
		return err
	}
	var st fairslot.Staff
	if err := s.Store.View(ctx, func(tx storage.Tx) (err error) { st, err = tx.Staff(ctx, id); return err }); err != nil {
		return err
	}
	if err := s.passwordPolicy(password, st.Username, st.Name); err != nil {
		return err
	}
	hash := HashPassword(password)
	return s.changeStaff(ctx, a, id, "staff.passwd", true, func(tx storage.Tx, now time.Time) error {
		return tx.SetStaffPassword(ctx, id, hash, now)
	})
}

// DisableStaff disables an account and ends its sessions.
func (s *Service) DisableStaff(ctx context.Context, a Actor, id int64) error {
	if err := s.manage(a, fairslot.ActStaff); err != nil {
		return err
	}
	if a.Kind == storage.StaffToken && a.ID == id {
		return fairslot.E(fairslot.Conflict, "error.staff.disable_self", "you cannot disable your own account")
	}
	return s.changeStaff(ctx, a, id, "staff.disable", true, func(tx storage.Tx, now time.Time) error {
		return tx.SetStaffDisabled(ctx, id, now)
	})
}

// EnableStaff enables a disabled account.
func (s *Service) EnableStaff(ctx context.Context, a Actor, id int64) error {
	if err := s.manage(a, fairslot.ActStaff); err != nil {
		return err
	}
	return s.changeStaff(ctx, a, id, "staff.enable", false, func(tx storage.Tx, now time.Time) error {
		return tx.SetStaffDisabled(ctx, id, time.Time{})
	})
}

// ResetStaffMFA forgets an account's second factor (a lost phone) and
// returns a new enrolment code, shown this once, which replaces any earlier
// one: the next sign-in enrols again with the password and this code. Its
// sessions end. On an account not yet enrolled it just issues a new code
// (the old one was lost or expired).
func (s *Service) ResetStaffMFA(ctx context.Context, a Actor, id int64) (EnrolCode, error) {
	if err := s.manage(a, fairslot.ActStaff); err != nil {
		return EnrolCode{}, err
	}
	var code EnrolCode
	err := s.changeStaff(ctx, a, id, "staff.reset_mfa", true, func(tx storage.Tx, now time.Time) error {
		if err := tx.ResetMFA(ctx, id, now); err != nil {
			return err
		}
		var h []byte
		code, h = s.newEnrolCode(id, now)
		return tx.SetEnrolCode(ctx, id, h, code.ExpiresAt)
	})
	if err != nil {
		return EnrolCode{}, err
	}
	return code, nil
}

// UnlockStaff lifts a lock-out (an admin or a security officer).
func (s *Service) UnlockStaff(ctx context.Context, a Actor, id int64) error {
	if err := s.manage(a, fairslot.ActStaff, fairslot.ActSecurity); err != nil {
		return err
	}
	var st fairslot.Staff
	err := s.changeStaff(ctx, a, id, "staff.unlock", false, func(tx storage.Tx, now time.Time) (err error) {
		if st, err = tx.Staff(ctx, id); err != nil {
			return err
		}
		return tx.UnlockStaff(ctx, id)
	})
	if err == nil {
		s.staffFailures.reset("u " + st.Username)
	}
	return err
}

// changeStaff makes one audited change to an account, ending its sessions
// when asked.
func (s *Service) changeStaff(ctx context.Context, a Actor, id int64, action string, endSessions bool, fn func(tx storage.Tx, now time.Time) error) error {
	now := s.now()
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(tx, now); err != nil {
			return err
		}
		if endSessions {
			if err := tx.EndStaffSessions(ctx, id, nil, now); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, a, action, fmt.Sprintf("staff:%d", id), nil)
	})
}

// StaffByUsername finds a staff member by username, for the command line.
func (s *Service) StaffByUsername(ctx context.Context, a Actor, username string) (fairslot.Staff, error) {
	if a.Kind != systemKind {
		if err := s.requireStaff(a, fairslot.ActStaff); err != nil {
			return fairslot.Staff{}, err
		}
	}
	var st fairslot.Staff
	err := s.Store.View(ctx, func(tx storage.Tx) (err error) { st, _, err = tx.StaffByUsername(ctx, username); return err })
	return st, err
}
