package web_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/storage"
)

// TestTicketsOfTwoRoomsAndConsoleFilters: walk-ins into two rooms of one
// department get tickets under two prefixes; a ticket names the hospital,
// the room and the arrival window, marks priority, and counts the people
// ahead in the calling order (a priority patient's turn comes first, not
// after everyone who arrived before); the console filters and counts who
// waits.
func TestTicketsOfTwoRoomsAndConsoleFilters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.svc.Session(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.svc.Sessions(ctx, storage.SessionFilter{DepartmentID: first.DepartmentID, From: first.Date, To: first.Date})
	if err != nil {
		t.Fatal(err)
	}
	var other int64
	for _, s := range all {
		if s.Room != first.Room && s.Period == first.Period {
			other = s.ID
			break
		}
	}
	if other == 0 {
		t.Fatalf("no second room in department %d on %s", first.DepartmentID, first.Date)
	}
	desk := e.browser(t, e.internal)
	desk.get("/staff/login")
	desk.post("/staff/login", url.Values{"username": {"desk"}, "password": {demo.Password}})
	desk.get("/kiosk/walk-in")
	walkIn := func(session int64, n int, priority string) string {
		t.Helper()
		base := fmt.Sprintf("110105198001017%02d", n)
		if priority == "elderly" {
			base = fmt.Sprintf("110105194001017%02d", n)
		}
		status, _, page := desk.post("/kiosk/walk-in?lang=en", url.Values{"session_id": {fmt.Sprint(session)}, "name": {"王小" + fmt.Sprint(n)},
			"id_type": {"cn_resident"}, "id_number": {base + string(fairslot.ResidentCheckDigit(base))}, "priority": {priority}})
		if status != 200 {
			t.Fatalf("walk-in %d: %d\n%s", n, status, page)
		}
		return page
	}
	tests := []struct {
		session  int64
		priority string
		ticket   string
		ahead    int
	}{
		{1, "", "A001", 0},
		{1, "", "A002", 1},
		{other, "", "B001", 0},
		{1, "elderly", "A003", 0}, // called before A001 and A002: the interleave
		{1, "", "A004", 3},
	}
	ticket := regexp.MustCompile(`<p class="ticket">([A-Z]+\d+)</p>`)
	for i, tt := range tests {
		page := walkIn(tt.session, i, tt.priority)
		if m := ticket.FindStringSubmatch(page); m == nil || m[1] != tt.ticket {
			t.Errorf("walk-in %d: ticket %v, want %s", i, m, tt.ticket)
		}
		want := []string{fmt.Sprintf(`<p class="ahead">%d people ahead of you</p>`, tt.ahead), `class="hospital">`, "Arrival window",
			`data-paper="58"`, `data-paper="80"`}
		if tt.priority != "" {
			want = append(want, `class="priority-mark"`)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("walk-in %d: the ticket lacks %s", i, w)
			}
		}
		if tt.priority == "" && strings.Contains(page, `class="priority-mark"`) {
			t.Errorf("walk-in %d: a priority mark on an ordinary ticket", i)
		}
	}

	// The console: filtered to the department and the session's time of day,
	// with the patients waiting in each session.
	_, console := desk.get(fmt.Sprintf("/staff?lang=en&department=%d&period=%s", first.DepartmentID, first.Period))
	rows := regexp.MustCompile(`<tr><td><a href="/staff/sessions/(\d+)">([^<]*)</a></td><td>([^<]*)</td>.*?<td class="waiting">(\d+)</td>`).FindAllStringSubmatch(console, -1)
	if len(rows) == 0 {
		t.Fatalf("the filtered console lists no session:\n%s", console)
	}
	dept, _ := e.svc.Departments(ctx)
	var name string
	for _, d := range dept {
		if d.ID == first.DepartmentID {
			name = d.Name
		}
	}
	waiting := map[string]string{}
	for _, r := range rows {
		if r[3] != name || !strings.HasPrefix(r[2], map[fairslot.Period]string{fairslot.Morning: "Morning", fairslot.Afternoon: "Afternoon"}[first.Period]) {
			t.Errorf("the console filtered to %s, %s lists %v", name, first.Period, r[1:])
		}
		waiting[r[1]] = r[4]
	}
	if waiting["1"] != "4" || waiting[fmt.Sprint(other)] != "1" {
		t.Errorf("waiting counts = %v; want 4 in session 1 and 1 in %d", waiting, other)
	}
	if !strings.Contains(console, "5 patients waiting") {
		t.Errorf("the console does not total the waiting patients:\n%s", console)
	}
	// Another department: none of these sessions.
	_, console = desk.get(fmt.Sprintf("/staff?lang=en&department=%d", first.DepartmentID+1))
	if strings.Contains(console, `href="/staff/sessions/1"`) {
		t.Error("the console filtered to another department lists session 1")
	}
}
