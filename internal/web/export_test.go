package web

// StaffPatterns lists the patterns of every staff page the pages register,
// so that tests walk all of them rather than a hand-kept list.
func StaffPatterns(p *Pages) []string {
	var out []string
	p.staffRoutes(func(pattern string, _ handler) { out = append(out, pattern) })
	return out
}
