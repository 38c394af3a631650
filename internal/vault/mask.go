package vault

import (
	"strings"
	"unicode/utf8"
)

// The masks follow one rule (DESIGN §6, issue 12 item 6): a masked value,
// with everything else the same page or response shows, leaves at least
// 10,000 candidates, and never shows what check-in asks as proof — the last
// four characters of the ID number. The familiar 110101********123X kept the
// region and the proof; with the birth year beside it 33 numbers remained.

// MaskName keeps the first character: 张三 → 张*, Nguyen Van An → N*.
func MaskName(name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if size == 0 {
		return ""
	}
	return string(r) + "*"
}

// phoneHidden is how many characters of a phone number are always hidden:
// five digits leave 100,000 numbers, a margin over the rule's 10,000 for the
// structure of real numbering plans.
const phoneHidden = 5

// MaskPhone keeps the last two digits, and the first three (the carrier or
// country prefix) when at least five digits stay hidden between them:
// 138******34, 091*****78. The common 138****1234 hides four digits — only
// 10,000 numbers, and 1,000 for a 10-digit Vietnamese mobile.
func MaskPhone(phone string) string {
	n := len(phone)
	switch {
	case n == 0:
		return ""
	case n < 2+phoneHidden:
		return strings.Repeat("*", n)
	case n < 3+phoneHidden+2:
		return strings.Repeat("*", n-2) + phone[n-2:]
	}
	return phone[:3] + strings.Repeat("*", n-5) + phone[n-2:]
}

// MaskID keeps only the first two characters of an ID number of at least
// eight (a province, a document series), never the last four that check-in
// asks as proof, and nothing of a shorter one: 11****************,
// E1*******, H1*******, 00**********.
func MaskID(id string) string {
	n := len(id)
	if n < 8 {
		return strings.Repeat("*", n)
	}
	return id[:2] + strings.Repeat("*", n-2)
}
