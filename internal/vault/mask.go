package vault

import (
	"strings"
	"unicode/utf8"
)

// MaskName keeps the first character: 张三 → 张*, Nguyen Van An → N*.
func MaskName(name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 {
		return ""
	}
	return string(r) + "*"
}

// MaskPhone keeps the first three and last four digits: 138****1234.
func MaskPhone(phone string) string {
	n := len(phone)
	switch {
	case n == 0:
		return ""
	case n < 8:
		return strings.Repeat("*", n-2) + phone[n-2:]
	}
	return phone[:3] + strings.Repeat("*", n-7) + phone[n-4:]
}

// MaskID keeps the region code and the last four characters of a resident ID
// (110101********123X); shorter numbers keep only their last four.
func MaskID(id string) string {
	n := len(id)
	switch {
	case n == 0:
		return ""
	case n <= 6:
		return strings.Repeat("*", n)
	case n < 12:
		return strings.Repeat("*", n-4) + id[n-4:]
	}
	return id[:6] + strings.Repeat("*", n-10) + id[n-4:]
}
