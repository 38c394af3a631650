package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/vault"
)

// TestBrowserOfferAndDrawMessages drives three patients on phone-sized
// screens, one per language (en, vi, zh-CN), through a draw and a
// waitlist on the demo's simulated release (--sim: a draw of one place and
// a first-come session of one place): each gets the draw's result as a
// message in their own language (read from the demo's log provider, as a
// phone would receive it); the winner pays from /me; the English patient
// books the first-come place and the others join its waitlist; when the
// booking is cancelled the first on the waitlist is offered the place by a
// message with its deadline, in their language, and pays from /me.
func TestBrowserOfferAndDrawMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := chromium(t)
	s, draw, firstCome := simServer(t, `{"sweep_interval": "1s", "notify": {"provider": "log"}}`, "--sim-opens-in", "5s", "--sim-window", "1m", "--sim-slots", "1")
	b := newBrowserRun(t, s)

	langs := []string{"en", "vi", "zh-CN"}
	// What each language's draw-result and offer messages begin with
	// (internal/notify's catalogue).
	results := map[string]string{"en": "fairslot draw result: ", "vi": "Kết quả bốc thăm fairslot: ", "zh-CN": "fairslot 抽签结果："}
	offers := map[string]string{"en": "fairslot: a place has been freed", "vi": "fairslot: có một chỗ trống", "zh-CN": "fairslot：已为"}
	type person struct {
		lang, phone string
		tab         context.Context
	}
	var people []person
	for i, lang := range langs {
		phone := fmt.Sprintf("1390000010%d", i)
		p := person{lang: lang, phone: phone, tab: b.patientPhone(t, browser, lang, phone, "陈小"+[]string{"一", "二", "三"}[i], residentIDForTest(950+i))}
		people = append(people, p)
	}

	// Everyone enters the draw once its entry window opens.
	for _, p := range people {
		waitPage(t, p.tab, s.url+"/sessions/"+draw, `form[action$="/enter"]`, p.lang+": the draw's entry window to open")
		do(t, p.tab, p.lang+": enter the draw", click(`form[action$="/enter"] button`, "body.page-me"))
	}
	b.page(t, people[2].tab, "zh-CN", "portal-me-entry", true)

	// The draw runs when its window closes; each patient is told.
	winner := -1
	for i, p := range people {
		msg := b.message(t, p.phone, results[p.lang], p.lang+": the draw's result message")
		if strings.Contains(msg, "陈小") {
			t.Errorf("%s: the message names the patient in full: %q", p.lang, msg)
		}
		if !strings.Contains(msg, "陈*") {
			t.Errorf("%s: the message does not name the patient masked: %q", p.lang, msg)
		}
		won := map[string]string{"en": "won a place", "vi": "được chọn (", "zh-CN": "中签（"}[p.lang]
		lost := map[string]string{"en": "was not drawn", "vi": "không được chọn", "zh-CN": "未中签"}[p.lang]
		if !strings.Contains(msg, won) && !strings.Contains(msg, lost) {
			t.Errorf("%s: the draw's result message is neither a win nor a loss in its language: %q", p.lang, msg)
		}
		if strings.Contains(msg, won) && !strings.Contains(msg, lost) {
			if winner >= 0 {
				t.Fatalf("two winners of one place: %q", msg)
			}
			winner = i
		}
		t.Logf("%s was told: %s", p.lang, msg)
	}
	if winner < 0 {
		t.Fatal("nobody won the draw's place")
	}
	w := people[winner]
	do(t, w.tab, w.lang+": my page with the won place", chromedp.Navigate(s.url+"/me"), chromedp.WaitVisible(chromedp.CSS(`body.page-me .offer form[action$="/pay"]`)))
	b.page(t, w.tab, w.lang, "portal-me-won", true)
	do(t, w.tab, w.lang+": pay the won place from /me", click(`.offer form[action$="/pay"] button`, "body.page-booking .code"))
	if st := value(t, w.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.cat[w.lang]["status.confirmed"] {
		t.Errorf("%s: the won place after paying reads %q", w.lang, st)
	}

	// The first-come place: the English patient books it, the others wait.
	en := people[0]
	waitPage(t, en.tab, s.url+"/sessions/"+firstCome, `form[action$="/book"]`, "en: the first-come session to open")
	do(t, en.tab, "en: book the only place", click(`form[action$="/book"] button`, "body.page-booking"))
	booking := value(t, en.tab, "booking URL", chromedp.Location())
	for _, p := range people[1:] {
		waitPage(t, p.tab, s.url+"/sessions/"+firstCome, `form[action$="/waitlist"]`, p.lang+": the full session's waitlist form")
		do(t, p.tab, p.lang+": join the waitlist", click(`form[action$="/waitlist"] button`, "body.page-me"))
	}
	b.page(t, people[1].tab, "vi", "portal-me-waitlist", true)
	do(t, en.tab, "en: cancel the booking", chromedp.Navigate(booking+"/cancel"), chromedp.WaitVisible(chromedp.CSS("body.page-cancel")),
		click(`form[action$="/cancel"] button`, "body.page-booking"))

	// The first on the waitlist (vi) is offered it by a message, and pays from /me.
	vi := people[1]
	msg := b.message(t, vi.phone, offers["vi"], "vi: the waitlist offer message")
	do(t, vi.tab, "vi: my page with the offer", chromedp.Navigate(s.url+"/me"), chromedp.WaitVisible(chromedp.CSS(`body.page-me .offer form[action$="/pay"]`)))
	// The payable offer, not vi's won-and-paid place from the draw, which
	// /me also lists as an .offer when vi won it.
	offerText := value(t, vi.tab, "the offer", chromedp.Evaluate[string](`[...document.querySelectorAll('.offer')].find(e => e.querySelector('form[action$="/pay"]'))?.innerText ?? ""`))
	payBy := regexp.MustCompile(`\d\d/\d\d/\d{4} \d\d:\d\d`).FindString(offerText) // as the Vietnamese pages write it
	if payBy == "" || !strings.Contains(msg, payBy) {
		t.Errorf("the offer message %q does not give the deadline /me shows (%q)", msg, offerText)
	}
	b.page(t, vi.tab, "vi", "portal-me-offer", true)
	do(t, vi.tab, "vi: pay the offer from /me", click(`.offer form[action$="/pay"] button`, "body.page-booking .code"))
	if st := value(t, vi.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.cat["vi"]["status.confirmed"] {
		t.Errorf("vi: the offered place after paying reads %q", st)
	}
	if got := b.messages(t, people[2].phone, offers["zh-CN"]); len(got) != 0 {
		t.Errorf("the second on the waitlist was offered the same place: %q", got)
	}
}

// waitPage reloads url until it shows sel (a release opening, a place
// filling), until the test's hang guard.
func waitPage(t *testing.T, ctx context.Context, url, sel, what string) {
	t.Helper()
	for deadline := hangGuard(t); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		do(t, ctx, what, chromedp.Navigate(url))
		if value(t, ctx, what, chromedp.Evaluate[bool](`!!document.querySelector(`+strconv.Quote(sel)+`)`)) {
			return
		}
	}
	t.Fatalf("waited until the test's deadline for %s", what)
}

var logText = regexp.MustCompile(`to=(\S+) text="((?:[^"\\]|\\.)*)"`)

// messages returns the messages the demo's log provider showed for phone
// that begin with prefix.
func (b *browserRun) messages(t *testing.T, phone, prefix string) []string {
	masked := vault.MaskPhone(phone)
	var out []string
	for _, m := range logText.FindAllStringSubmatch(b.s.log(), -1) {
		text, err := strconv.Unquote(`"` + m[2] + `"`)
		if err == nil && m[1] == masked && strings.HasPrefix(text, prefix) {
			out = append(out, text)
		}
	}
	return out
}

// message waits for a message to phone beginning with prefix.
func (b *browserRun) message(t *testing.T, phone, prefix, what string) string {
	t.Helper()
	for deadline := hangGuard(t); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got := b.messages(t, phone, prefix); len(got) > 0 {
			return got[len(got)-1]
		}
	}
	t.Fatalf("waited until the test's deadline for %s (to %s, beginning %q) in the server's log", what, vault.MaskPhone(phone), prefix)
	return ""
}

// simServer starts the demo with config (JSON) and its simulated release
// (--sim, the flags in sim), and returns it with the draw session's and
// the first-come session's ids.
func simServer(t *testing.T, config string, sim ...string) (s *server, draw, firstCome string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "fairslot.json")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, buildBinary(t), dir, append([]string{"--config", path, "--sim"}, sim...))
	m := regexp.MustCompile(`simulation: sessions added" draw_session=(\d+) first_come_session=(\d+)`).FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no simulation sessions in the log:\n%s", s.log())
	}
	return s, m[1], m[2]
}

// patientPhone opens a phone-sized tab, logs phone in from the login page
// in lang, accepts the privacy notice and adds the patient name with the
// resident ID number id; it returns the tab, on /me.
func (b *browserRun) patientPhone(t *testing.T, browser context.Context, lang, phone, name, id string) context.Context {
	t.Helper()
	ctx := tab(t, browser, 390, 844, true)
	do(t, ctx, lang+": open the login page", chromedp.Navigate(b.s.url+"/login"),
		click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
	do(t, ctx, lang+": ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone), click(`form[action="/login/code"] button`, "#code"))
	do(t, ctx, lang+": log in", chromedp.SendKeys(chromedp.CSS("#code"), b.loginCode(t, phone)), click(`form[action="/login"] button`, "body.page-me, body.page-consent"))
	pastConsent(t, ctx)
	do(t, ctx, lang+": add a patient", chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id),
		click(`form[action="/me/patients"] button`, "body.page-me"))
	return ctx
}
