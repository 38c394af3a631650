package app

// SetPasswordCheck replaces the staff password check of s, before its first
// login, so that tests can hold a check in progress and count checks.
func SetPasswordCheck(s *Service, check func(hash, password string) bool) {
	s.StaffLogins.check = check
}
