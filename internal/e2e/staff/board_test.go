package staff

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
)

// speechSpy replaces the browser's speech with a recorder, before the
// page's scripts run: window.__spoken lists what the page asked to say
// and in which language. chimeSpy takes speech away and counts the
// chime's tones instead.
const (
	speechSpy = `window.__spoken = [];
if (window.speechSynthesis) window.speechSynthesis.speak = function (u) { window.__spoken.push({text: u.text, lang: u.lang}); };`
	chimeSpy = `window.__tones = 0; delete window.SpeechSynthesisUtterance; delete Window.prototype.speechSynthesis;
Object.defineProperty(window, "speechSynthesis", {value: undefined});
(function () { var C = window.AudioContext; if (!C) return; var o = C.prototype.createOscillator;
C.prototype.createOscillator = function () { window.__tones++; return o.apply(this, arguments); }; })();`
)

// TestBrowserBoard: two rooms of the fever clinic (one department, one
// board) check patients in and call them. The board never shows one ticket
// twice and names each call's room; a recall comes back to the top,
// marked; each call is spoken in the board's language with the sentence the
// board shows (a chime where the browser cannot speak); a reloaded board
// shows the same and announces nothing twice. The doctor's room takes a
// check-in without reloading; the console filters by department and time
// of day with waiting counts; the ticket prints at 80 and 58 mm. Every page
// is photographed and checked with axe-core.
func TestBrowserBoard(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil)
	b := newRun(t, s)
	const lang = "zh-CN"
	desk, nurse := e2e.StaffToken(t, s, "desk"), e2e.StaffToken(t, s, "nurse")

	// Two rooms of the fever clinic open now.
	var sessions []struct {
		ID    int64  `json:"id"`
		Room  string `json:"room"`
		Ended bool   `json:"ended"`
		Start time.Time
		End   time.Time
	}
	e2e.GetList(t, s.URL+"/api/v1/departments/1/sessions", &sessions)
	var rooms []int64
	roomOf := map[int64]string{}
	for _, x := range sessions {
		if now := time.Now(); !x.Ended && !x.Start.After(now) && x.End.After(now) && len(rooms) < 2 {
			rooms = append(rooms, x.ID)
			roomOf[x.ID] = x.Room
		}
	}
	if len(rooms) != 2 || roomOf[rooms[0]] == roomOf[rooms[1]] {
		t.Fatalf("want two rooms of the fever clinic open now, have %v", roomOf)
	}

	// The board, spied on; the first room's page, open before anyone checks in.
	board := e2e.Tab(t, browser, 1920, 1080, false)
	e2e.InitScript(t, board, speechSpy)
	e2e.Do(t, board, "open the board", chromedp.Navigate(s.URL+"/board/1?lang="+lang), chromedp.WaitVisible(chromedp.CSS(".board")))
	room := e2e.Tab(t, browser, 1280, 800, false)
	b.StaffLogin(t, room, lang, "nurse")
	roomURL := fmt.Sprintf("%s/staff/sessions/%d", s.URL, rooms[0])
	e2e.Do(t, room, "open the room", chromedp.Navigate(roomURL), chromedp.WaitVisible(chromedp.CSS("body.page-room")),
		chromedp.Evaluate[chromedp.Void]("window.__notReloaded = true"))

	// Check-ins, room by room, alternating: the first from the desk's page
	// (the printed ticket), the rest over the API.
	ticketTab := e2e.Tab(t, browser, 302, 900, false) // 80 mm at 96 dpi
	b.StaffLogin(t, ticketTab, lang, "desk")
	e2e.Do(t, ticketTab, "walk-in form", chromedp.Navigate(s.URL+"/kiosk/walk-in"), chromedp.WaitVisible(chromedp.CSS("#session_id")),
		chromedp.SetValue(chromedp.CSS("#session_id"), fmt.Sprint(rooms[0])), chromedp.SendKeys(chromedp.CSS("#name"), "钱多多"),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), e2e.ResidentID(600)),
		chromedp.SendKeys(chromedp.CSS("#phone"), "13700000600"), e2e.Click(`form[action="/kiosk/walk-in"] button.primary`, "body.page-ticket"))
	first := e2e.Value(t, ticketTab, "the ticket", chromedp.Text(chromedp.CSS(".ticket-print .ticket")))
	if got := e2e.Value(t, ticketTab, "the ticket's room", chromedp.Text(chromedp.CSS(".ticket-print .room"))); got != roomOf[rooms[0]] {
		t.Errorf("the ticket names room %q, want %q", got, roomOf[rooms[0]])
	}
	if h := e2e.Value(t, ticketTab, "the ticket's hospital", chromedp.Text(chromedp.CSS(".ticket-print .hospital"))); !strings.Contains(h, "Demo Hospital") {
		t.Errorf("the ticket does not name the hospital: %q", h)
	}
	b.Page(t, ticketTab, lang, "ticket", false)
	printShot(t, b, ticketTab, "80", 302)
	printShot(t, b, ticketTab, "58", 219)

	// The room took the check-in without a reload.
	e2e.Value(t, room, "the room shows the check-in", chromedp.Poll[bool](
		fmt.Sprintf(`[...document.querySelectorAll("#live td")].some(td => td.textContent === %q) && window.__notReloaded === true`, first),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(e2e.HangGuard(t)))))
	b.Page(t, room, lang, "staff-room-live", false)

	labels := map[string]int64{first: rooms[0]}
	tickets := map[int64]int{rooms[0]: 1}
	for i := range 5 {
		sess := rooms[(i+1)%2]
		code, res, err := s.Post("/api/v1/staff/walk-ins", desk, "", fmt.Sprintf(`{"session_id":%d,"patient":{"name":"孙%s","id_type":"cn_resident","id_number":%q,"phone":"1370000061%d"}}`,
			sess, []string{"一", "二", "三", "四", "五"}[i], e2e.ResidentID(610+i), i))
		if err == nil && code == 409 && errorKey(res) == "error.booking.full" {
			// Late in the day the clinic's last windows fill: the walk-in
			// is refused as the desk would be. The board needs fewer.
			t.Logf("walk-in %d: session %d is full now: %v", i, sess, res)
			continue
		}
		if err != nil || code != 201 {
			t.Fatalf("walk-in %d = %d %v %v", i, code, res, err)
		}
		label := res["ticket_label"].(string)
		if other, ok := labels[label]; ok {
			t.Fatalf("ticket %s issued in sessions %d and %d of one department", label, other, sess)
		}
		labels[label] = sess
		tickets[sess]++
	}
	// Each room calls one; the second then completes and calls another.
	if tickets[rooms[0]] < 1 || tickets[rooms[1]] < 2 {
		t.Fatalf("tickets issued per room %v: the board's checks need one in the first room and two in the second", tickets)
	}

	// Both rooms call: the board shows two different tickets, each with its room.
	called := map[int64]map[string]any{}
	for _, sess := range rooms {
		code, res, err := s.Post(fmt.Sprintf("/api/v1/staff/sessions/%d/call-next", sess), nurse, "", "")
		if err != nil || code != 200 {
			t.Fatalf("call-next in %d = %d %v %v", sess, code, res, err)
		}
		called[sess] = res
	}
	rowsJS := `[...document.querySelectorAll("#calls tr")].map(tr => [...tr.cells].map(td => td.firstChild ? td.firstChild.textContent.trim() : ""))`
	waitBoard := func(what, cond string) {
		t.Helper()
		e2e.Value(t, board, what, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(e2e.HangGuard(t)))))
	}
	waitBoard("the board shows both calls", `document.querySelectorAll("#calls tr").length === 2 && window.__spoken.length === 2`)
	var rows [][]string
	rows = e2e.Value(t, board, "the board's calls", chromedp.Evaluate[[][]string](rowsJS))
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r[0]] {
			t.Errorf("the board shows ticket %s twice: %v", r[0], rows)
		}
		seen[r[0]] = true
		if want := roomOf[labels[r[0]]]; r[2] != want {
			t.Errorf("the board shows ticket %s in room %q, want %q", r[0], r[2], want)
		}
	}
	// Spoken: what the board shows, in its language, the latest call last.
	type utterance struct{ Text, Lang string }
	spoken := e2e.Value(t, board, "what the board said", chromedp.Evaluate[[]utterance](`window.__spoken`))
	say := e2e.Value(t, board, "the board's sentence", chromedp.Text(chromedp.CSS("#say")))
	for i, u := range spoken {
		c := called[rooms[i]]
		want := fmt.Sprintf(strings.NewReplacer("%[1]s", "%[1]s", "%[2]s", "%[2]s", "%[3]s", "%[3]s").Replace(b.Cat[lang]["board.say"]),
			c["ticket"], c["name"], roomOf[rooms[i]])
		if u.Text != want || u.Lang != lang {
			t.Errorf("utterance %d = %+v, want %q in %s", i, u, want, lang)
		}
	}
	if last := spoken[len(spoken)-1].Text; say != last || !strings.Contains(say, rows[0][0]) {
		t.Errorf("the board shows %q and said %q last (its top row %v)", say, last, rows[0])
	}
	for _, r := range rows {
		if !strings.Contains(r[1], "*") {
			t.Errorf("the board shows a name unmasked: %v", r)
		}
	}
	b.Page(t, board, lang, "board", false)

	// A recall of the first room's patient comes back on top, marked, and is said again.
	recalled := called[rooms[0]]
	if code, res, err := s.Post(fmt.Sprintf("/api/v1/staff/bookings/%v/recall", recalled["booking_id"]), nurse, "", ""); err != nil || code != 200 {
		t.Fatalf("recall = %d %v %v", code, res, err)
	}
	waitBoard("the board shows the recall on top", fmt.Sprintf(`(document.querySelector("#calls tr td.ticket") || {textContent: ""}).textContent.startsWith(%q) &&
		!!document.querySelector("#calls tr:first-child .tag") && window.__spoken.length === 3 && window.__spoken[2].text === document.getElementById("say").textContent`, recalled["ticket"]))
	b.Page(t, board, lang, "board-recall", false)

	// Reloaded (its stream ended and opened again): the same board, nothing said twice.
	e2e.Do(t, board, "reload the board", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".board")))
	waitBoard("the reloaded board shows the calls", `document.querySelectorAll("#calls tr").length === 2 && !!document.querySelector("#calls tr:first-child .tag")`)
	if got := e2e.Value(t, board, "the reloaded board's calls", chromedp.Evaluate[[][]string](rowsJS)); fmt.Sprint(got) != fmt.Sprint(e2e.Value(t, board, "", chromedp.Evaluate[[][]string](rowsJS))) || got[0][0] != recalled["ticket"] {
		t.Errorf("after the reload the board shows %v", got)
	}
	// A board that cannot speak chimes instead.
	chime := e2e.Tab(t, browser, 1280, 720, false)
	e2e.InitScript(t, chime, chimeSpy)
	e2e.Do(t, chime, "open a board without speech", chromedp.Navigate(s.URL+"/board/1?lang=vi"), chromedp.WaitVisible(chromedp.CSS(".board")))
	e2e.Value(t, chime, "the board without speech shows the calls", chromedp.Poll[bool](`document.querySelectorAll("#calls tr").length === 2`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(e2e.HangGuard(t)))))
	// The second room completes and calls its next patient: the reloaded
	// board says only that; the other chimes.
	if code, res, err := s.Post(fmt.Sprintf("/api/v1/staff/bookings/%v/complete", called[rooms[1]]["booking_id"]), nurse, "", ""); err != nil || code != 200 {
		t.Fatalf("complete = %d %v %v", code, res, err)
	}
	code, next, err := s.Post(fmt.Sprintf("/api/v1/staff/sessions/%d/call-next", rooms[1]), nurse, "", "")
	if err != nil || code != 200 {
		t.Fatalf("call-next = %d %v %v", code, next, err)
	}
	waitBoard("the reloaded board says the new call only", fmt.Sprintf(`window.__spoken.length === 1 && window.__spoken[0].text.includes(%q)`, next["ticket"]))
	e2e.Value(t, chime, "the board without speech chimes", chromedp.Poll[bool](`window.__tones > 0`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(e2e.HangGuard(t)))))
	b.Page(t, chime, "vi", "board-vi", false)
	rows = e2e.Value(t, board, "the board's calls", chromedp.Evaluate[[][]string](rowsJS))
	if len(rows) != 2 || rows[0][0] != next["ticket"] || rows[0][0] == rows[1][0] {
		t.Errorf("the board after the next call = %v; want %v on top and no ticket twice", rows, next["ticket"])
	}

	// The console: the fever clinic's sessions only, with their waiting counts.
	e2e.Do(t, room, "console filtered", chromedp.Navigate(s.URL+"/staff?department=1"), chromedp.WaitVisible(chromedp.CSS("body.page-console")))
	depts := e2e.Value(t, room, "the console's departments", chromedp.Evaluate[[]string](`[...document.querySelectorAll("tbody tr")].map(tr => tr.cells[1].textContent)`))
	if len(depts) == 0 {
		t.Fatal("the console filtered to the fever clinic lists nothing")
	}
	for _, d := range depts {
		if !strings.Contains(d, "Fever") {
			t.Errorf("the console filtered to the fever clinic lists a session of %q", d)
		}
	}
	waiting := e2e.Value(t, room, "the waiting count", chromedp.Evaluate[string](fmt.Sprintf(
		`document.querySelector('tbody a[href="/staff/sessions/%d"]').closest("tr").querySelector(".waiting").textContent`, rooms[0])))
	if want := fmt.Sprint(countIn(labels, rooms[0]) - 1); waiting != want { // one of them is called
		t.Errorf("the console's waiting count for the first room = %s, want %s", waiting, want)
	}
	b.Page(t, room, lang, "staff-console-filtered", false)
	e2e.Do(t, room, "console by time of day", chromedp.Navigate(s.URL+"/staff?department=2&period=afternoon"), chromedp.WaitVisible(chromedp.CSS("body.page-console")))
	periods := e2e.Value(t, room, "the console's sessions", chromedp.Evaluate[[]string](`[...document.querySelectorAll("tbody tr td:first-child a")].map(a => a.textContent)`))
	for _, p := range periods {
		if !strings.HasPrefix(p, b.Cat[lang]["period.afternoon"]) {
			t.Errorf("the console filtered to afternoons lists %q", p)
		}
	}
}

func countIn(labels map[string]int64, sess int64) int {
	n := 0
	for _, s := range labels {
		if s == sess {
			n++
		}
	}
	return n
}

// printShot photographs the ticket as printed on paper mm wide (print
// media, the paper's width in CSS pixels at 96 dpi).
func printShot(t *testing.T, b *run, ctx context.Context, mm string, px int64) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	defer chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
	e2e.Do(t, ctx, "paper "+mm, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.body.setAttribute("data-paper", %q)`, mm)),
		chromedp.EmulateViewport(px, 900))
	png := e2e.Value(t, ctx, "print screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.Shots, "zh-CN-ticket-print-"+mm+"mm.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := e2e.Value(t, ctx, "print to PDF", chromedp.PrintToPDF(func(p *page.PrintToPDFParams) { yes := true; p.PreferCSSPageSize = &yes }))
	if len(pdf) == 0 {
		t.Errorf("the ticket printed nothing at %s mm", mm)
	}
}

// TestBoardReconnectsAfterRefusal: a board whose stream is refused (its
// pool full) says it is offline and, once there is room, streams again by
// itself — a browser's EventSource gives up for good after a refusal, so
// the page must open a new one.
func TestBoardReconnectsAfterRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "fairslot.json")
	// One stream at a time on the demo's only listener.
	if err := os.WriteFile(config, []byte(`{"front_door": {"public_streams": {"max": 1, "per_prefix": 16, "per_device": 2, "per_token": 4}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := e2e.StartServer(t, e2e.Binary(t), dir, []string{"--config", config})
	holder, stop := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(holder, "GET", s.URL+"/api/v1/display/departments/1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the stream that fills the pool: %v %v", resp, err)
	}
	defer resp.Body.Close()
	ctx := e2e.Tab(t, browser, 1280, 800, false)
	e2e.Do(t, ctx, "open the board", chromedp.Navigate(s.URL+"/board/1?lang=en"))
	status := chromedp.Evaluate[string](`document.getElementById("status").textContent`)
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := e2e.HangGuard(t); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if st := e2e.Value(t, ctx, "read the board's status", status); ok(st) {
				return
			}
		}
		t.Fatalf("the board never %s: its status is %q", what, e2e.Value(t, ctx, "read the board's status", status))
	}
	waitFor("said it was offline while its stream was refused", func(st string) bool { return st != "" })
	stop() // the pool has room again
	waitFor("streamed again once there was room", func(st string) bool { return st == "" })
}

// errorKey is the catalogue key of an API error answer.
func errorKey(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	k, _ := e["key"].(string)
	return k
}
