package patient

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/e2e"
)

// TestBrowserErrorsInline drives the forms' errors (issue 13 item 4) in
// headless Chromium on a phone-sized screen, once per language, against a
// demo server whose host zone is New York (TZ): a wrong login code shows
// beside the code field with the tries left; an invalid ID number on the
// add-patient form shows, translated, beside the ID field with everything
// typed kept; and the department page lists the hospital's today
// (Asia/Shanghai), not the host's.
func TestBrowserErrorsInline(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	cat := e2e.ReadCatalogue(t)
	browser := e2e.Chromium(t)
	s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil, "TZ=America/New_York")
	b := newRun(t, s)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for i, lang := range []string{"zh-CN", "vi", "en"} {
		t.Run(lang, func(t *testing.T) {
			phone := fmt.Sprintf("1380000010%d", i)
			ctx := e2e.Tab(t, browser, 390, 844, true)
			e2e.Do(t, ctx, "open the login page", chromedp.Navigate(s.URL+"/login"),
				e2e.Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
			e2e.Do(t, ctx, "ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone),
				e2e.Click(`form[action="/login/code"] button`, "#code"))
			code := b.LoginCode(t, phone)
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			// A wrong code: the code step again, the error beside the field.
			e2e.Do(t, ctx, "a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), wrong),
				e2e.Click(`form[action="/login"] button.primary`, "#code-error"))
			msg := e2e.Value(t, ctx, "the code's error", chromedp.Text(chromedp.CSS("#code-error")))
			prefix, _, _ := strings.Cut(cat[lang]["error.login.wrong_left"], "%")
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, "4") {
				t.Errorf("a wrong code shows %q, want the tries left (4) in %s: %q…", msg, lang, prefix)
			}
			if got := e2e.Value(t, ctx, "the code field", chromedp.Evaluate[string](
				`(e => e.getAttribute("aria-invalid") + " " + e.getAttribute("aria-describedby") + " " + (document.activeElement === e))(document.querySelector("#code"))`)); got != "true code-error true" {
				t.Errorf("the code field: aria-invalid, aria-describedby, focused = %q", got)
			}
			b.Page(t, ctx, lang, "login-wrong-code", true)
			e2e.Do(t, ctx, "the right code", chromedp.SendKeys(chromedp.CSS("#code"), code),
				e2e.Click(`form[action="/login"] button.primary`, "body.page-me, body.page-consent"))
			e2e.PastConsent(t, ctx)

			// An invalid ID number: /me again, translated, the input kept.
			first := "11010519800101123"
			bad := first + map[bool]string{true: "0", false: "1"}[fairslot.ResidentCheckDigit(first) != '0']
			name := "阮文" + []string{"一", "二", "三"}[i]
			e2e.Do(t, ctx, "add a patient with a wrong ID number", chromedp.SendKeys(chromedp.CSS("#name"), name),
				chromedp.SendKeys(chromedp.CSS("#id_number"), bad),
				e2e.Click(`form[action="/me/patients"] button`, "#id_number-error"))
			msg = e2e.Value(t, ctx, "the ID number's error", chromedp.Text(chromedp.CSS("#id_number-error")))
			if want := cat[lang]["error.id.resident_check"]; msg != want {
				t.Errorf("an invalid ID number shows %q, want %q", msg, want)
			}
			kept := e2e.Value(t, ctx, "the form", chromedp.Evaluate[string](
				`[document.querySelector("#name").value, document.querySelector("#id_number").value, document.querySelector("#id_number").getAttribute("aria-invalid"), document.querySelector("#id_number").getAttribute("aria-describedby")].join("|")`))
			if want := name + "|" + bad + "|true|id_number-error"; kept != want {
				t.Errorf("the form shown again: %q, want %q", kept, want)
			}
			b.Page(t, ctx, lang, "me-invalid-id", true)

			// The hospital's today, whatever the host's zone.
			before := time.Now().In(shanghai).Format(time.DateOnly)
			e2e.Do(t, ctx, "the fever clinic", chromedp.Navigate(s.URL+"/departments/1"), chromedp.WaitVisible(chromedp.CSS("body.page-department")))
			first1 := e2e.Value(t, ctx, "the first session's date", chromedp.Text(chromedp.CSS(`a.row[href^="/sessions/"] span`)))
			after := time.Now().In(shanghai).Format(time.DateOnly)
			var days []string
			for _, d := range []string{before, after} {
				day, _ := time.Parse(time.DateOnly, d)
				days = append(days, dayIn(lang, day))
			}
			if !strings.HasPrefix(first1, days[0]) && !strings.HasPrefix(first1, days[1]) {
				t.Errorf("the first session is on %q, want the hospital's today %q", first1, days[0])
			}
			b.Page(t, ctx, lang, "department", true)
		})
	}
}

// dayIn writes a date as the pages do in lang (internal/web/format.go),
// from the catalogue's weekday names.
func dayIn(lang string, d time.Time) string {
	wd := map[string][]string{
		"zh-CN": {"星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"},
		"vi":    {"Chủ nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"},
		"en":    {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
	}[lang][d.Weekday()]
	switch lang {
	case "zh-CN":
		return fmt.Sprintf("%d年%d月%d日 %s", d.Year(), int(d.Month()), d.Day(), wd)
	case "vi":
		return fmt.Sprintf("%s, %02d/%02d/%d", wd, d.Day(), int(d.Month()), d.Year())
	}
	return fmt.Sprintf("%s %d %s %d", wd, d.Day(), d.Month().String()[:3], d.Year())
}
