package patient

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
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
	browser := e2e.Chromium(t)
	s, draw, firstCome := e2e.SimServer(t, `{"sweep_interval": "1s", "notify": {"provider": "log"}}`, "--sim-opens-in", "5s", "--sim-window", "1m", "--sim-slots", "1")
	b := newRun(t, s)

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
		p := person{lang: lang, phone: phone, tab: b.PatientPhone(t, browser, lang, phone, "陈小"+[]string{"一", "二", "三"}[i], e2e.ResidentID(950+i))}
		people = append(people, p)
	}

	// Everyone enters the draw once its entry window opens.
	for _, p := range people {
		e2e.WaitPage(t, p.tab, s.URL+"/sessions/"+draw, `form[action$="/enter"]`, p.lang+": the draw's entry window to open")
		e2e.Do(t, p.tab, p.lang+": enter the draw", e2e.Click(`form[action$="/enter"] button`, "body.page-me"))
	}
	b.Page(t, people[2].tab, "zh-CN", "portal-me-entry", true)

	// The draw runs when its window closes; each patient is told.
	winner := -1
	for i, p := range people {
		msg := b.S.Message(t, p.phone, results[p.lang], p.lang+": the draw's result message")
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
	e2e.Do(t, w.tab, w.lang+": my page with the won place", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS(`body.page-me .offer form[action$="/pay"]`)))
	b.Page(t, w.tab, w.lang, "portal-me-won", true)
	e2e.Do(t, w.tab, w.lang+": pay the won place from /me", e2e.Click(`.offer form[action$="/pay"] button`, "body.page-booking .code"))
	if st := e2e.Value(t, w.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.Cat[w.lang]["status.confirmed"] {
		t.Errorf("%s: the won place after paying reads %q", w.lang, st)
	}

	// The first-come place: the English patient books it, the others wait.
	en := people[0]
	e2e.WaitPage(t, en.tab, s.URL+"/sessions/"+firstCome, `form[action$="/book"]`, "en: the first-come session to open")
	e2e.Do(t, en.tab, "en: book the only place", e2e.Click(`form[action$="/book"] button`, "body.page-booking"))
	booking := e2e.Value(t, en.tab, "booking URL", chromedp.Location())
	for _, p := range people[1:] {
		e2e.WaitPage(t, p.tab, s.URL+"/sessions/"+firstCome, `form[action$="/waitlist"]`, p.lang+": the full session's waitlist form")
		e2e.Do(t, p.tab, p.lang+": join the waitlist", e2e.Click(`form[action$="/waitlist"] button`, "body.page-me"))
	}
	b.Page(t, people[1].tab, "vi", "portal-me-waitlist", true)
	e2e.Do(t, en.tab, "en: cancel the booking", chromedp.Navigate(booking+"/cancel"), chromedp.WaitVisible(chromedp.CSS("body.page-cancel")),
		e2e.Click(`form[action$="/cancel"] button`, "body.page-booking"))

	// The first on the waitlist (vi) is offered it by a message, and pays from /me.
	vi := people[1]
	msg := b.S.Message(t, vi.phone, offers["vi"], "vi: the waitlist offer message")
	e2e.Do(t, vi.tab, "vi: my page with the offer", chromedp.Navigate(s.URL+"/me"), chromedp.WaitVisible(chromedp.CSS(`body.page-me .offer form[action$="/pay"]`)))
	// The payable offer, not vi's won-and-paid place from the draw, which
	// /me also lists as an .offer when vi won it.
	offerText := e2e.Value(t, vi.tab, "the offer", chromedp.Evaluate[string](`[...document.querySelectorAll('.offer')].find(e => e.querySelector('form[action$="/pay"]'))?.innerText ?? ""`))
	payBy := regexp.MustCompile(`\d\d/\d\d/\d{4} \d\d:\d\d`).FindString(offerText) // as the Vietnamese pages write it
	if payBy == "" || !strings.Contains(msg, payBy) {
		t.Errorf("the offer message %q does not give the deadline /me shows (%q)", msg, offerText)
	}
	b.Page(t, vi.tab, "vi", "portal-me-offer", true)
	e2e.Do(t, vi.tab, "vi: pay the offer from /me", e2e.Click(`.offer form[action$="/pay"] button`, "body.page-booking .code"))
	if st := e2e.Value(t, vi.tab, "status", chromedp.Text(chromedp.CSS(".status"))); st != b.Cat["vi"]["status.confirmed"] {
		t.Errorf("vi: the offered place after paying reads %q", st)
	}
	if got := b.S.Messages(people[2].phone, offers["zh-CN"]); len(got) != 0 {
		t.Errorf("the second on the waitlist was offered the same place: %q", got)
	}
}
