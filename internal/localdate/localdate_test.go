package localdate_test

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/localdate"
)

func TestDayAndStamp(t *testing.T) {
	at := time.Date(2026, 12, 1, 16, 46, 0, 0, time.FixedZone("CST", 8*3600))
	for lang, want := range map[string]string{
		"zh-CN": "2026年12月1日 星期二 16:46",
		"vi":    "Thứ Ba, 01/12/2026 16:46",
		"en":    "Tue 1 Dec 2026 16:46",
		"fr":    "Tue 1 Dec 2026 16:46", // a language it does not know: English
	} {
		if got := localdate.Stamp(lang, at); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
}
