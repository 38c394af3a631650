package web_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// outside returns a page without its <details> parts (the detail views).
func outside(page string) string {
	return regexp.MustCompile(`(?s)<details.*?</details>`).ReplaceAllString(page, "")
}

// TestMeSaysWhatThingsAre: /me names each draw entry's and waitlist place's
// doctor, department, date, session time and patient; says when a draw's
// result comes, then the result, the rank and the won place to pay by its
// deadline (paid from /me); a waitlist place's position, then the offer
// with its deadline (paid from /me); bookings by date; and a session that
// ended as ended — on /me, the session page and the department page — not
// as full. The entry's salted hash is only in the detail view.
func TestMeSaysWhatThingsAre(t *testing.T) {
	e := newEnv(t)
	ds, err := e.svc.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dept := ds[0].Name // newSession's department (1)
	opens := e.clock().Add(-30 * time.Minute)
	draw := e.newSession(t, release.Rule{Mode: fairslot.Draw, Window: fairslot.Duration(2 * time.Hour)}, opens, "15:00")
	b, patient := e.patientOf(t, "13912345678", "赵一", 1)
	pid, _ := strconv.ParseInt(patient, 10, 64)
	// A booking tomorrow, made before the draw's (on the 12th).
	ss, err := e.svc.Sessions(ctx, storage.SessionFilter{From: "2026-12-11", To: "2026-12-11"})
	if err != nil {
		t.Fatal(err)
	}
	var today app.BookingView
	for _, s := range ss {
		if s.Release.Bookable && s.Remaining > 0 && s.DepartmentID != 1 {
			if today, err = e.svc.Hold(ctx, e.actorOf(t, "13912345678"), app.HoldInput{SessionID: s.ID, PatientID: pid}); err == nil {
				break
			}
		}
	}
	if today.ID == 0 {
		t.Fatalf("no booking tomorrow: %v", err)
	}
	path := fmt.Sprintf("/sessions/%d", draw)
	b.get(path)
	if status, _, body := b.post(path+"/enter", url.Values{"patient_id": {patient}}); status != 303 {
		t.Fatalf("enter the draw: %d\n%s", status, body)
	}
	_, me := b.get("/me")
	entries := outside(me[strings.Index(me, "抽签报名"):strings.Index(me, "就诊人</h2>")])
	resultAt := zhStamp(opens.Add(2*time.Hour), loc)
	for _, want := range []string{"Dr New · " + dept, "2026年12月12日 星期六 下午 14:00–15:00", "赵*", "等待抽签", resultAt + " 公布结果"} {
		if !strings.Contains(entries, want) {
			t.Errorf("the draw entry lacks %q:\n%s", want, entries)
		}
	}
	es, err := e.svc.Entries(ctx, e.actorOf(t, "13912345678"))
	if err != nil || len(es) != 1 {
		t.Fatalf("entries: %v %v", es, err)
	}
	if strings.Contains(entries, es[0].Hash) || !strings.Contains(me, es[0].Hash) || strings.Contains(me, "出诊 ") {
		t.Errorf("the entry's hash belongs in its detail view only, and no entry is a bare session number:\n%s", me)
	}

	e.advance(2 * time.Hour)
	if _, err := e.svc.RunDraw(ctx, app.System, draw); err != nil {
		t.Fatal(err)
	}
	_, me = b.get("/me")
	entries = outside(me[strings.Index(me, "抽签报名"):strings.Index(me, "就诊人</h2>")])
	won, err := e.svc.Entries(ctx, e.actorOf(t, "13912345678"))
	if err != nil || won[0].Offer == nil || !won[0].Offer.Payable {
		t.Fatalf("the won entry's offer: %+v %v", won, err)
	}
	payBy := zhStamp(won[0].Offer.PayBy, loc)
	for _, want := range []string{"<strong>中签</strong> · 排名 1 / 1", "已为您保留", payBy, fmt.Sprintf(`action="/bookings/%d/pay"`, won[0].BookingID)} {
		if !strings.Contains(entries, want) {
			t.Errorf("the won entry lacks %q:\n%s", want, entries)
		}
	}
	if status, loc, body := b.post(fmt.Sprintf("/bookings/%d/pay", won[0].BookingID), url.Values{"key": {payKey(t, entries)}}); status != 303 || loc != fmt.Sprintf("/bookings/%d", won[0].BookingID) {
		t.Fatalf("pay the won place from /me: %d %s\n%s", status, loc, body)
	}
	_, me = b.get("/me")
	// Bookings by date: tomorrow's first, though the draw's was made later.
	bookings := me[:strings.Index(me, "抽签报名")]
	if i, j := strings.Index(bookings, fmt.Sprintf(`href="/bookings/%d"`, today.ID)), strings.Index(bookings, fmt.Sprintf(`href="/bookings/%d"`, won[0].BookingID)); i < 0 || j < 0 || i > j {
		t.Errorf("bookings not by date (today's at %d, the 12th's at %d):\n%s", i, j, bookings)
	}
	if strings.Contains(outside(me[strings.Index(me, "抽签报名"):]), "已为您保留") {
		t.Errorf("a paid offer is still shown as held:\n%s", me)
	}

	// A waitlist place: doctor, date, patient and position; then an offer.
	full := e.newSession(t, release.Rule{Mode: fairslot.FirstCome}, e.clock().Add(-time.Hour), "14:30")
	fpath := fmt.Sprintf("/sessions/%d", full)
	first, p1 := e.patientOf(t, "13912340001", "钱二", 2)
	first.get(fpath)
	status, firstBooking, body := first.post(fpath+"/book", url.Values{"patient_id": {p1}, "key": {"a"}})
	if status != 303 {
		t.Fatalf("the first booking: %d\n%s", status, body)
	}
	{
		first.get(firstBooking)
		second, p2 := e.patientOf(t, "13912340002", "孙三", 3)
		second.get(fpath)
		if status, _, body := second.post(fpath+"/waitlist", url.Values{"patient_id": {p2}}); status != 303 {
			t.Fatalf("join the waitlist: %d\n%s", status, body)
		}
		_, me := second.get("/me")
		waits := me[strings.Index(me, "候补</h2>"):strings.Index(me, "就诊人</h2>")]
		for _, want := range []string{"Dr New · " + dept, "2026年12月12日 星期六 下午 14:00–14:30", "孙*", "第 1 位"} {
			if !strings.Contains(waits, want) {
				t.Errorf("the waitlist place lacks %q:\n%s", want, waits)
			}
		}
		first.get(firstBooking + "/cancel")
		if status, _, body := first.post(firstBooking+"/cancel", url.Values{}); status != 303 {
			t.Fatalf("cancel: %d\n%s", status, body)
		}
		_, me = second.get("/me")
		waits = me[strings.Index(me, "候补</h2>"):strings.Index(me, "就诊人</h2>")]
		ws, err := e.svc.Waitlists(ctx, e.actorOf(t, "13912340002"))
		if err != nil || len(ws) != 1 || ws[0].Offer == nil || !ws[0].Offer.Payable {
			t.Fatalf("the waitlist offer: %+v %v", ws, err)
		}
		payBy := zhStamp(ws[0].Offer.PayBy, loc)
		for _, want := range []string{"已为您提供号源", "已为您保留", payBy, fmt.Sprintf(`action="/bookings/%d/pay"`, ws[0].BookingID)} {
			if !strings.Contains(waits, want) {
				t.Errorf("the waitlist offer lacks %q:\n%s", want, waits)
			}
		}
		if strings.Contains(waits, "第 1 位") || strings.Contains(waits, "/leave") {
			t.Errorf("an offered place still shows a position or a leave button:\n%s", waits)
		}
		if status, _, body := second.post(fmt.Sprintf("/bookings/%d/pay", ws[0].BookingID), url.Values{"key": {payKey(t, waits)}}); status != 303 {
			t.Fatalf("pay the offer from /me: %d\n%s", status, body)
		}
		if v, err := e.svc.Booking(ctx, e.actorOf(t, "13912340002"), ws[0].BookingID); err != nil || v.Status != fairslot.Confirmed {
			t.Errorf("the offered booking after paying: %v %v", v.Status, err)
		}
	}

	// After the sessions end: shown as ended, not full.
	e.advance(3 * 24 * time.Hour)
	_, page := b.get(path)
	if !strings.Contains(page, "已结束") || strings.Contains(page, "已满") {
		t.Errorf("an ended session's page:\n%s", page)
	}
	_, page = b.get("/departments/1")
	if strings.Contains(page, "已满") {
		t.Errorf("ended sessions shown as full on the department page:\n%s", page)
	}
	_, me = b.get("/me")
	if !strings.Contains(outside(me[strings.Index(me, "抽签报名"):]), "已结束") {
		t.Errorf("an ended session's entry not shown as ended:\n%s", me)
	}
}

// payKey is the idempotency key of the first pay form in html.
func payKey(t *testing.T, html string) string {
	t.Helper()
	m := regexp.MustCompile(`/pay">.*?name="key" value="([^"]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no pay form:\n%s", html)
	}
	return m[1]
}

// zhStamp is a time as the Chinese pages write it (format.go's Stamp).
func zhStamp(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return fmt.Sprintf("%d年%d月%d日 星期%s %s", t.Year(), int(t.Month()), t.Day(), []string{"日", "一", "二", "三", "四", "五", "六"}[t.Weekday()], t.Format("15:04"))
}
