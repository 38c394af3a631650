package web_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// windowsForm is the window form of a session as its page fills it, with
// change applied to its rows (row i is the session's i-th window).
func windowsForm(t *testing.T, e *env, id int64, change func(rows []map[string]string) []map[string]string) url.Values {
	t.Helper()
	uses, err := e.svc.WindowUses(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	for _, u := range uses {
		s, end := u.Start.Format("15:04"), u.End.Format("15:04")
		rows = append(rows, map[string]string{"from": s, "fromend": end, "start": s, "end": end, "places": fmt.Sprint(u.Capacity)})
	}
	rows = change(rows)
	f := url.Values{"rows": {fmt.Sprint(len(rows))}}
	for i, r := range rows {
		for k, v := range r {
			f.Set(fmt.Sprintf("%s_%d", k, i), v)
		}
	}
	return f
}

func windowsNow(t *testing.T, e *env, id int64) string {
	t.Helper()
	uses, err := e.svc.WindowUses(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range uses {
		out = append(out, fmt.Sprintf("%s-%s/%d", u.Start.Format("15:04"), u.End.Format("15:04"), u.Capacity))
	}
	return strings.Join(out, " ")
}

// TestAdminWindowEdits: on a session's page the admin changes its time
// windows — a refusal (overlapping windows, an end before the start, a
// window outside the session, no places, a number too big to read)
// shows in the page's language at the form with the rows as typed and
// changes nothing; a change is confirmed. Other roles see no window form
// and their posts are refused; an admin limited to a department is
// refused another department's session by typed URL and POST.
func TestAdminWindowEdits(t *testing.T) {
	e := newEnv(t)
	const id = 44
	page := fmt.Sprintf("/staff/admin/sessions/%d", id)
	action := page + "/windows"
	before := windowsNow(t, e, id)
	if strings.Count(before, " ") < 2 {
		t.Fatalf("session %d has too few windows to test: %s", id, before)
	}
	for _, user := range []string{"desk", "nurse", "doctor", "security"} {
		b := e.staffBrowser(t, e.internal, user)
		if _, body := b.get(page); strings.Contains(body, `action="`+action+`"`) {
			t.Errorf("%s sees the window form", user)
		}
		form := windowsForm(t, e, id, func(rows []map[string]string) []map[string]string { return rows[1:] })
		if status, _, body := b.post(action+"?lang=en", form); status != http.StatusForbidden || !strings.Contains(body, "Your role may not do this.") {
			t.Errorf("%s posting the window form: %d, want 403 for the role", user, status)
		}
	}

	b := e.staffBrowser(t, e.internal, "admin")
	if _, body := b.get(page); !strings.Contains(body, `action="`+action+`"`) {
		t.Fatalf("the admin sees no window form on %s", page)
	}
	set := func(i int, kv ...string) func([]map[string]string) []map[string]string {
		return func(rows []map[string]string) []map[string]string {
			for j := 0; j < len(kv); j += 2 {
				rows[i][kv[j]] = kv[j+1]
			}
			return rows
		}
	}
	add := func(start, end, places string) func([]map[string]string) []map[string]string {
		return func(rows []map[string]string) []map[string]string {
			return append(rows, map[string]string{"start": start, "end": end, "places": places})
		}
	}
	for _, tt := range []struct {
		name   string
		change func([]map[string]string) []map[string]string
		status int
		says   string // in English
		kept   string
	}{
		{"overlapping windows", add("13:40", "13:50", "2"), http.StatusBadRequest, "overlap", `value="13:40"`},
		{"an end before its start", set(1, "start", "14:20", "end", "14:10"), http.StatusBadRequest, "ends before it starts", `value="14:20"`},
		{"a window after the session", add("17:30", "17:50", "2"), http.StatusBadRequest, "outside the session", `value="17:50"`},
		{"a window before the session", add("13:00", "13:30", "2"), http.StatusBadRequest, "outside the session", `value="13:00"`},
		{"a window of 40 minutes", set(1, "end", "14:40"), http.StatusBadRequest, "longer than 30 minutes", `value="14:40"`},
		{"no places", set(1, "places", "0"), http.StatusBadRequest, "has 1 to 50 places", `value="0"`},
		{"negative places", set(1, "places", "-4"), http.StatusBadRequest, "has 1 to 50 places", `value="-4"`},
		{"a number too big to read", set(1, "places", "99999999999999999999"), http.StatusBadRequest, "has 1 to 50 places", `value="99999999999999999999"`},
		{"not a time", set(1, "start", "2pm"), http.StatusBadRequest, "Times are HH:MM", `value="2pm"`},
		{"every window removed", func(rows []map[string]string) []map[string]string {
			for _, r := range rows {
				r["remove"] = "1"
			}
			return rows
		}, http.StatusBadRequest, "at least one time window", `checked`},
	} {
		status, _, body := b.post(action+"?lang=en", windowsForm(t, e, id, tt.change))
		if status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, status, tt.status)
		}
		if !strings.Contains(body, `id="windows-error" role="alert"`) || !strings.Contains(body, tt.says) {
			t.Errorf("%s: the form does not say %q at the windows\n%s", tt.name, tt.says, body)
		}
		if !strings.Contains(body, tt.kept) {
			t.Errorf("%s: the input %s is not kept", tt.name, tt.kept)
		}
	}
	if got := windowsNow(t, e, id); got != before {
		t.Errorf("windows after refused posts %s, want %s", got, before)
	}

	// Shorten the last window by ten minutes and add one of three places
	// after it: confirmed in Chinese.
	last := strings.Count(before, " ")
	change := func(rows []map[string]string) []map[string]string {
		rows[last]["end"] = "17:20"
		return append(rows, map[string]string{"start": "17:20", "end": "17:30", "places": "3"})
	}
	status, loc, body := b.post(action, windowsForm(t, e, id, change))
	if status != http.StatusSeeOther {
		t.Fatalf("saving the windows: %d\n%s", status, body)
	}
	if _, body := b.get(loc + "&lang=zh-CN"); !strings.Contains(body, "已修改") || !strings.Contains(body, "的时段") {
		t.Errorf("the change is not confirmed:\n%s", body)
	}
	// The form sent again as it now is: nothing changed, and the page says
	// so rather than "changed".
	status, loc, body = b.post(action, windowsForm(t, e, id, func(rows []map[string]string) []map[string]string { return rows }))
	if status != http.StatusSeeOther {
		t.Fatalf("saving the windows unchanged: %d\n%s", status, body)
	}
	if _, body := b.get(loc + "&lang=en"); !strings.Contains(body, "nothing changed") || strings.Contains(body, "Changed the time windows") {
		t.Errorf("an edit that changed nothing is not said so:\n%s", body)
	}
	fields := strings.Fields(before)
	lastWas := fields[last]
	fields[last] = lastWas[:strings.Index(lastWas, "-")] + "-17:20" + lastWas[strings.Index(lastWas, "/"):]
	if got, want := windowsNow(t, e, id), strings.Join(fields, " ")+" 17:20-17:30/3"; got != want {
		t.Errorf("windows after the edit: %s, want %s", got, want)
	}

	// A department's admin, at another department's session: no form,
	// and the typed POST refused.
	v, err := e.svc.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := e.svc.Departments(ctx)
	var elsewhere fairslot.Department
	for _, d := range ds {
		if d.ID != v.DepartmentID {
			elsewhere = d
			break
		}
	}
	if _, err := e.svc.SetStaffScope(ctx, app.System, "admin", func(s *app.Scope) { *s = app.Scope{DepartmentID: elsewhere.ID} }); err != nil {
		t.Fatal(err)
	}
	scoped := e.staffBrowser(t, e.internal, "admin")
	if _, body := scoped.get(page); strings.Contains(body, `action="`+action+`"`) {
		t.Error("a department's admin sees the window form of another department's session")
	}
	now := windowsNow(t, e, id)
	form := windowsForm(t, e, id, func(rows []map[string]string) []map[string]string { return rows[1:] })
	if status, _, body := scoped.post(action+"?lang=en", maps.Clone(form)); status != http.StatusForbidden {
		t.Errorf("a department's admin posting another department's windows: %d\n%s", status, body)
	}
	if got := windowsNow(t, e, id); got != now {
		t.Errorf("windows after the refused post %s, want %s", got, now)
	}
}

// TestDoctorPageAddsASession: the admin reaches the new-session form from
// a doctor's page with the doctor chosen; other roles get no such link.
func TestDoctorPageAddsASession(t *testing.T) {
	e := newEnv(t)
	d, err := e.svc.Doctor(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf(`href="/staff/admin/sessions?department=%d&amp;doctor=4#new-session"`, d.DepartmentID)
	if _, body := e.staffBrowser(t, e.internal, "desk").get("/staff/admin/doctors/4"); strings.Contains(body, link) {
		t.Error("the desk is offered to add a session")
	}
	b := e.staffBrowser(t, e.internal, "admin")
	if _, body := b.get("/staff/admin/doctors/4"); !strings.Contains(body, link) {
		t.Fatalf("the doctor's page has no link to add a session\n%s", body)
	}
	_, body := b.get(fmt.Sprintf("/staff/admin/sessions?department=%d&doctor=4", d.DepartmentID))
	if !strings.Contains(body, `<option value="4" selected>`) || !strings.Contains(body, `id="new-session"`) {
		t.Errorf("the new-session form does not have the doctor chosen\n%s", body)
	}
}
