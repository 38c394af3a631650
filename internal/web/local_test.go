package web_test

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/storage"
)

// hostIn sets the process's zone (time.Local, as TZ would) for one test.
func hostIn(t *testing.T, name string) {
	t.Helper()
	z, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	host := time.Local
	time.Local = z
	t.Cleanup(func() { time.Local = host })
}

// TestTodayIsTheHospitals: twenty minutes after midnight in the hospital
// (UTC+8), a host in New York is still on the previous day. "Today" — the
// sessions listed, the day a booking is on, the dates the pages write — is
// the hospital's.
func TestTodayIsTheHospitals(t *testing.T) {
	hostIn(t, "America/New_York")
	e := newEnv(t) // the demo seeded at 09:00 on 2026-12-10, hospital time
	e.advance(15*time.Hour + 20*time.Minute)
	if got := e.clock().In(time.Local).Format(time.DateOnly); got != "2026-12-10" {
		t.Fatalf("the host's date is %s; the test needs one that differs from the hospital's", got)
	}
	ss, err := e.svc.Sessions(ctx, storage.SessionFilter{DepartmentID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) == 0 || ss[0].Date != "2026-12-11" {
		t.Fatalf("the sessions from today start on %v, want the hospital's 2026-12-11", ss[0].Date)
	}
	b := e.browser(t, e.public)
	_, page := b.get("/departments/1?lang=zh-CN")
	if !strings.Contains(page, "2026年12月11日 星期五") || strings.Contains(page, "2026年12月10日") {
		t.Errorf("the department page's sessions are not from the hospital's today:\n%s", page)
	}
	// The fever clinic's morning session of the 11th runs now: book it.
	a := e.actorOf(t, "13912340000")
	if _, err := e.svc.Consent(ctx, a, privacy.NoticeVersion, "zh-CN"); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.BindPatient(ctx, a, app.PatientInput{Name: "王五", IDType: fairslot.IDResident, IDNumber: testID})
	if err != nil {
		t.Fatal(err)
	}
	bk, err := e.svc.Hold(ctx, a, app.HoldInput{SessionID: ss[0].ID, PatientID: p.ID})
	if err != nil {
		t.Fatalf("booking today's running session at 00:20: %v", err)
	}
	if got := bk.WindowStart.In(time.FixedZone("hospital", 8*3600)).Format(time.DateOnly); got != "2026-12-11" {
		t.Errorf("the booking is on %s, want 2026-12-11", got)
	}
}

// TestFeesAndDatesAsEachLanguageWritesThem: the fee with its currency on the
// session page, the booking page and the pay button; the refund on the
// cancel page; dates in each language's form with the weekday.
func TestFeesAndDatesAsEachLanguageWritesThem(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t, e.public)
	b.login(e, "13900139002")
	b.get("/me")
	if status, _, body := b.post("/me/patients", url.Values{"name": {"王五"}, "id_type": {"cn_resident"}, "id_number": {testID}}); status != 303 {
		t.Fatalf("add a patient: %d\n%s", status, body)
	}
	// Session 4: the fever clinic expert's afternoon (fee 100.00) on the 11th.
	_, page := b.get("/sessions/4?lang=vi")
	for _, want := range []string{"Thứ Sáu, 11/12/2026", `<strong class="fee">¥ 100,00</strong>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the session page (vi) lacks %q:\n%s", want, page)
		}
	}
	_, page = b.get("/sessions/4?lang=en")
	if !strings.Contains(page, "Fri 11 Dec 2026") || !strings.Contains(page, "¥ 100.00") {
		t.Errorf("the session page (en) lacks its date or fee:\n%s", page)
	}
	_, page = b.get("/sessions/4?lang=zh-CN")
	if !strings.Contains(page, "2026年12月11日 星期五") || !strings.Contains(page, "¥ 100.00") {
		t.Errorf("the session page (zh-CN) lacks its date or fee:\n%s", page)
	}
	m := regexp1(`name="patient_id" required><option value="(\d+)"`, page)
	status, loc, body := b.post("/sessions/4/book", url.Values{"patient_id": {m}, "key": {"k1"}})
	if status != 303 {
		t.Fatalf("book: %d\n%s", status, body)
	}
	_, page = b.get(loc + "?lang=zh-CN")
	for _, want := range []string{`<dd class="fee">¥ 100.00</dd>`, "立即支付 ¥ 100.00（沙箱）"} {
		if !strings.Contains(page, want) {
			t.Errorf("the booking page lacks %q:\n%s", want, page)
		}
	}
	_, page = b.get(loc + "/cancel?lang=en")
	if !strings.Contains(page, "Nothing has been paid for this booking") {
		t.Errorf("the cancel page of an unpaid booking:\n%s", page)
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/bookings/"), 10, 64)
	_, page = b.get(loc + "?lang=en")
	key := regexp1(`name="key" value="([^"]+)"`, page)
	if status, _, body := b.post(loc+"/pay", url.Values{"key": {key}}); status != 303 {
		t.Fatalf("pay booking %d: %d\n%s", id, status, body)
	}
	_, page = b.get(loc + "/cancel?lang=vi")
	if !strings.Contains(page, "Số tiền ¥ 100,00 bạn đã trả sẽ được hoàn lại.") {
		t.Errorf("the cancel page of a paid booking lacks its refund:\n%s", page)
	}
}

func regexp1(expr, s string) string {
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}
