package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// TestBrowserAdminWindows drives a session's time-window form (issue 14
// item 5) in headless Chromium. A patient books a paediatrics session
// three days ahead over the API; on that session's admin page the admin
// (English, 1280 px) sees the form, the booked window's times read-only
// and without a remove box, the others editable and removable; shortens
// the last window and adds one in a blank row, and the page confirms it and
// lists the new windows. In Vietnamese on a 768 px tablet, overlapping rows
// are refused at the form (role="alert", in Vietnamese) with the rows kept
// as typed, the page still within the window. Each page is checked by
// adminPage (translation, axe-core, screenshot, no overflow). A doctor's
// page's "add a session for this doctor" lands on the new-session form
// with that doctor chosen.
func TestBrowserAdminWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil)
	b := newRun(t, s)
	session, booked := bookAhead(t, s, "13700009001", e2e.ResidentID(901), 2, 3)
	page := fmt.Sprintf("%s/staff/admin/sessions/%d", s.URL, session)
	form := fmt.Sprintf(`form[action="/staff/admin/sessions/%d/windows"]`, session)

	ctx := e2e.Tab(t, browser, 1280, 1000, false)
	b.StaffLogin(t, ctx, "en", "admin")
	e2e.Do(t, ctx, "the session's page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form)))
	rows := windowRows(t, ctx, form)
	if len(rows) != 8+2 {
		t.Fatalf("the form has %d rows, want the session's 8 windows and 2 blank ones: %+v", len(rows), rows)
	}
	for _, r := range rows[:8] {
		switch {
		case r.From == booked && (!r.ReadOnly || r.Removable):
			t.Errorf("the booked window %s: times read-only %v, remove box %v; want read-only, none", r.From, r.ReadOnly, r.Removable)
		case r.From != booked && (r.ReadOnly || !r.Removable):
			t.Errorf("the free window %s: times read-only %v, remove box %v; want editable, removable", r.From, r.ReadOnly, r.Removable)
		}
	}
	if rows[0].From != booked {
		t.Errorf("the first window is %s, the booking's %s: the API booked the first free window", rows[0].From, booked)
	}
	for _, r := range rows[8:] {
		if r.From != "" || r.Start != "" || r.ReadOnly || !r.Blank {
			t.Errorf("a new row %d is not blank: %+v", r.I, r)
		}
	}
	// Shorten the last window and add one after it.
	last, blank := rows[7], rows[8]
	if last.From != "11:30" || last.End != "12:00" {
		t.Fatalf("the last window is %s–%s, want 11:30–12:00", last.From, last.End)
	}
	e2e.Do(t, ctx, "shorten the last window, add one", setRow(form, last.I, "11:30", "11:45", ""), setRow(form, blank.I, "11:45", "12:00", "2"),
		e2e.Click(form+` button.primary`, "body.page-adminsession p.done"))
	done := e2e.Value(t, ctx, "the confirmation", chromedp.Text(chromedp.CSS("p.done")))
	if !hasFormat(done, b.Cat["en"]["admin.done.session.windows"]) {
		t.Errorf("saving the windows is confirmed with %q, not %q", done, b.Cat["en"]["admin.done.session.windows"])
	}
	shown := e2e.Value(t, ctx, "the windows shown", chromedp.Text(chromedp.CSS("main section.card table")))
	for _, w := range []string{"11:30–11:45", "11:45–12:00"} {
		if !strings.Contains(shown, w) {
			t.Errorf("after saving, the session's windows do not list %s:\n%s", w, shown)
		}
	}
	if strings.Contains(shown, "11:30–12:00") {
		t.Errorf("after saving, the session still lists 11:30–12:00:\n%s", shown)
	}
	rows = windowRows(t, ctx, form)
	if len(rows) != 9+2 || rows[8].From != "11:45" || rows[8].Places != "2" || rows[7].End != "11:45" {
		t.Errorf("after saving, the form's rows are %+v; want 9 windows, the last two 11:30–11:45 and 11:45–12:00 with 2 places, and 2 blank", rows)
	}
	b.adminPage(t, ctx, "en", "admin-1280-windows-saved")

	// Overlapping rows, in Vietnamese on a tablet: refused at the form,
	// the rows as typed.
	vi := e2e.Tab(t, browser, 768, 1000, false)
	b.StaffLogin(t, vi, "vi", "admin")
	e2e.Do(t, vi, "the session's page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form)))
	b.adminPage(t, vi, "vi", "admin-768-windows")
	fitsWindow(t, vi, form, "the window form")
	rows = windowRows(t, vi, form)
	blank, second := rows[len(rows)-2], rows[1]
	e2e.Do(t, vi, "overlapping rows", setRow(form, second.I, "", "", "2"), setRow(form, blank.I, "11:10", "11:40", "1"),
		e2e.Click(form+` button.primary`, form+` [role="alert"]`))
	alert := e2e.Value(t, vi, "the refusal", chromedp.Text(chromedp.CSS(form+` [role="alert"]`)))
	if !hasFormat(alert, b.Cat["vi"]["error.windows.overlap"]) {
		t.Errorf("overlapping windows are refused with %q, want the Vietnamese %q", alert, b.Cat["vi"]["error.windows.overlap"])
	}
	kept := windowRows(t, vi, form)
	if len(kept) != len(rows) {
		t.Fatalf("the refused form has %d rows, was %d", len(kept), len(rows))
	}
	if r := kept[blank.I]; r.Start != "11:10" || r.End != "11:40" || r.Places != "1" || r.From != "" {
		t.Errorf("the refused form shows the new row as %+v, want 11:10–11:40, 1 place, as typed", r)
	}
	if r := kept[second.I]; r.From != second.From || r.Places != "2" || r.Start != second.Start {
		t.Errorf("the refused form shows the %s window as %+v, want its 2 places as typed", second.From, r)
	}
	if r := kept[0]; r.From != booked || !r.ReadOnly || r.Removable {
		t.Errorf("the refused form shows the booked window as %+v, want read-only without a remove box", r)
	}
	b.adminPage(t, vi, "vi", "admin-768-windows-refused")
	fitsWindow(t, vi, form, "the refused window form")
	// Nothing changed: the session still has the windows saved above.
	e2e.Do(t, vi, "the session's page again", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form)))
	if again := windowRows(t, vi, form); len(again) != 9+2 || again[1].Places != second.Places {
		t.Errorf("after the refusal the form's rows are %+v; want the 9 windows saved before, unchanged", again)
	}

	// A doctor's page offers a session for that doctor: the new-session
	// form, the doctor chosen.
	e2e.Do(t, ctx, "the doctor's page", chromedp.Navigate(s.URL+"/staff/admin/doctors/4"), chromedp.WaitVisible(chromedp.CSS("body.page-admindoctor")))
	link := `main a[href$="#new-session"]`
	if got := e2e.Value(t, ctx, "the link", chromedp.Text(chromedp.CSS(link))); got != b.Cat["en"]["admin.doctor.addsession"] {
		t.Errorf("the doctor's page links %q, want %q", got, b.Cat["en"]["admin.doctor.addsession"])
	}
	e2e.Do(t, ctx, "add a session for this doctor", e2e.Click(link, "body.page-adminsessions #new-session"), chromedp.WaitVisible(chromedp.CSS("#doctor_id")))
	if got := e2e.Value(t, ctx, "the chosen doctor", chromedp.Value(chromedp.CSS("#doctor_id"))); got != "4" {
		t.Errorf("the new-session form chose doctor %q, want 4", got)
	}
	if form := e2e.Value(t, ctx, "the form", chromedp.Evaluate[bool](`!!document.querySelector('#new-session ~ form[action^="/staff/admin/sessions"] #date')`)); !form {
		t.Error("the link did not land on the new-session form")
	}
	b.adminPage(t, ctx, "en", "admin-1280-doctor-newsession")
}

// windowRow is a row of the time-window form as the page shows it.
type windowRow struct {
	I                        int
	From, Start, End, Places string
	ReadOnly, Removable      bool
	Blank                    bool // no times and no places
}

// windowRows reads the rows of the time-window form sel.
func windowRows(t *testing.T, ctx context.Context, sel string) []windowRow {
	t.Helper()
	return e2e.Value(t, ctx, "the window form's rows", chromedp.Evaluate[[]windowRow](`(() => {
		const f = document.querySelector(`+strconv.Quote(sel)+`);
		const n = +f.querySelector('input[name="rows"]').value;
		const v = (name) => { const e = f.elements[name]; return e ? e.value : ""; };
		const out = [];
		for (let i = 0; i < n; i++) {
			const start = f.elements["start_" + i];
			if (!start) continue;
			out.push({I: i, From: v("from_" + i), Start: v("start_" + i), End: v("end_" + i), Places: v("places_" + i),
				ReadOnly: start.readOnly && f.elements["end_" + i].readOnly, Removable: !!f.elements["remove_" + i],
				Blank: !v("start_" + i) && !v("end_" + i) && !v("places_" + i)});
		}
		return out;
	})()`))
}

// setRow types a row of the time-window form sel; an empty value leaves
// its field as it is.
func setRow(sel string, i int, start, end, places string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const f = document.querySelector(%q);
		for (const [name, v] of [["start_%d", %q], ["end_%d", %q], ["places_%d", %q]]) {
			if (!v) continue;
			const e = f.elements[name];
			e.value = v;
			e.dispatchEvent(new Event("input", {bubbles: true}));
			e.dispatchEvent(new Event("change", {bubbles: true}));
		}
	})()`, sel, i, start, i, end, i, places))
}

// fitsWindow checks that the page, and the element sel in it, fit the
// window's width: nothing to scroll sideways on a tablet.
func fitsWindow(t *testing.T, ctx context.Context, sel, what string) {
	t.Helper()
	got := e2e.Value(t, ctx, "widths", chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, window.innerWidth,
		document.querySelector(`+strconv.Quote(sel)+`).getBoundingClientRect().right,
		Math.max(...[...document.querySelectorAll(`+strconv.Quote(sel+" table")+`)].map(e => e.getBoundingClientRect().right))]`))
	if got[0] > got[1] {
		t.Errorf("%s: the page is %v px wide in a %v px window", what, got[0], got[1])
	}
	if got[2] > got[1] || got[3] > got[1] {
		t.Errorf("%s ends at %v px, its table at %v px, in a %v px window", what, got[2], got[3], got[1])
	}
}

// hasFormat reports whether text is the catalogue's format filled in: it
// holds each part between the verbs.
func hasFormat(text, format string) bool {
	if format == "" {
		return false
	}
	for _, verb := range []string{"%s", "%d", "%v"} {
		format = strings.ReplaceAll(format, verb, "\x00")
	}
	for part := range strings.SplitSeq(format, "\x00") {
		if !strings.Contains(text, strings.TrimSpace(part)) {
			return false
		}
	}
	return true
}

// bookAhead books a new patient (phone, ID number id) over the API into the
// first session of department dept days ahead that takes a booking, and
// returns the session's id and the booked window's start (HH:MM, the
// hospital's time).
func bookAhead(t *testing.T, s *e2e.Server, phone, id string, dept, days int) (int64, string) {
	t.Helper()
	tok, pid := e2e.Bound(t, s, phone, id)
	hospital := e2e.Hospital(t)
	day := time.Now().In(hospital).AddDate(0, 0, days).Format(time.DateOnly)
	var list []struct {
		ID    int64     `json:"id"`
		Start time.Time `json:"start"`
	}
	e2e.GetList(t, fmt.Sprintf("%s/api/v1/departments/%d/sessions?from=%s&to=%s", s.URL, dept, day, day), &list)
	for _, sess := range list {
		if sess.Start.In(hospital).Format("15:04") != "08:00" {
			continue // a morning session: 08:00–12:00 in 30-minute windows
		}
		code, body, err := s.Post("/api/v1/bookings", tok, "", fmt.Sprintf(`{"session_id":%d,"patient_id":%d}`, sess.ID, pid))
		if err != nil || code != 201 {
			t.Logf("booking session %d: %d %v %v", sess.ID, code, body, err)
			continue
		}
		start, err := time.Parse(time.RFC3339, body["window_start"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return sess.ID, start.In(hospital).Format("15:04")
	}
	t.Fatalf("no session of department %d on %s took a booking", dept, day)
	return 0, ""
}
