package app

import (
	"context"

	"github.com/fairslot/fairslot/internal/staffauth"
	"github.com/fairslot/fairslot/internal/storage"
)

// SetPasswordCheck replaces the staff password check of s, before its first
// login, so that tests can hold a check in progress and count checks.
func SetPasswordCheck(s *Service, check func(hash, password string) bool) {
	s.StaffLogins.check = check
}

// SetEnrolCode gives a staff member an enrolment code in tx, as a fixture:
// what AddStaff and ResetStaffMFA issue, without their audit record.
func SetEnrolCode(s *Service, tx storage.Tx, staffID int64, code string) error {
	n, ok := staffauth.NormalizeEnrolCode(code)
	if !ok {
		panic("not an enrolment code: " + code)
	}
	h := staffauth.HashEnrolCode(s.Vault.Key("staff-enrol"), staffID, n)
	return tx.SetEnrolCode(context.Background(), staffID, h, s.now().Add(s.staffPolicy().EnrolCodeTTL))
}
