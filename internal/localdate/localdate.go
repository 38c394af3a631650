// Package localdate writes dates as each of fairslot's languages does —
// 2026年12月1日 星期二, Thứ Ba, 01/12/2026, Tue 1 Dec 2026 — for the pages and
// the messages alike, so a deadline reads the same in both.
package localdate

import (
	"fmt"
	"time"
)

var weekdays = map[string][7]string{
	"zh-CN": {"星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"},
	"vi":    {"Chủ nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"},
	"en":    {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
}

// Day writes t's date, weekday included, in lang (English for a language
// it does not know). t is written in its own location: pass it in the
// hospital's.
func Day(lang string, t time.Time) string {
	wd, ok := weekdays[lang]
	if !ok {
		lang, wd = "en", weekdays["en"]
	}
	w := wd[t.Weekday()]
	switch lang {
	case "zh-CN":
		return fmt.Sprintf("%d年%d月%d日 %s", t.Year(), int(t.Month()), t.Day(), w)
	case "vi":
		return fmt.Sprintf("%s, %02d/%02d/%d", w, t.Day(), int(t.Month()), t.Year())
	default:
		return fmt.Sprintf("%s %d %s %d", w, t.Day(), t.Month().String()[:3], t.Year())
	}
}

// Stamp is Day and the time of day (15:04).
func Stamp(lang string, t time.Time) string { return Day(lang, t) + " " + t.Format("15:04") }
