package httpapi

// StaffPatterns lists the patterns of every staff API route, so that tests
// walk all of them rather than a hand-kept list.
func StaffPatterns() []string {
	var out []string
	(&Server{}).staffRoutes(func(pattern string, _ handler) { out = append(out, pattern) })
	return out
}
