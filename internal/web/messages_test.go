package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/localdate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// outbox returns the texts of the messages in the outbox to phone, oldest
// first, as the dispatcher would send them.
func (e *env) outbox(t *testing.T, phone string) []string {
	t.Helper()
	var out []string
	err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
		ms, err := tx.DueOutbox(ctx, e.clock().Add(24*time.Hour), 1000)
		if err != nil {
			return err
		}
		for _, m := range ms {
			to, err := e.svc.Vault.Open(vault.Field{Table: "outbox", Row: m.Ref, Column: "recipient"}, m.RecipientSealed)
			if err != nil {
				return err
			}
			body, err := e.svc.Vault.Open(vault.Field{Table: "outbox", Row: m.Ref, Column: "body"}, m.BodySealed)
			if err != nil {
				return err
			}
			text, err := notify.Text(body)
			if err != nil {
				return err
			}
			if to == phone && !strings.Contains(text, "login code") && !strings.Contains(text, "验证码") && !strings.Contains(text, "Mã đăng nhập") {
				out = append(out, text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDrawAndOfferMessages: a draw's result reaches every entrant's phone
// through the outbox, in the language each last used the pages in (zh-CN,
// vi, en) — the winner with the place and the deadline to pay by, the
// others told they are on the waitlist; when the winner cancels, the first
// on the waitlist is offered the place with its deadline, in their
// language. No message holds a full name, an ID number or a phone.
func TestDrawAndOfferMessages(t *testing.T) {
	e := newEnv(t)
	opens := e.clock().Add(-30 * time.Minute)
	draw := e.newSession(t, release.Rule{Mode: fairslot.Draw, Window: fairslot.Duration(2 * time.Hour)}, opens, "14:30") // one place
	path := fmt.Sprintf("/sessions/%d", draw)
	people := []struct{ phone, name, lang string }{{"13912340011", "周大明", "zh-CN"}, {"13912340012", "吴小红", "vi"}, {"13912340013", "郑国强", "en"}}
	ids := map[string]string{}
	for i, p := range people {
		b, patient := e.patientOf(t, p.phone, p.name, 20+i)
		b.get("/me")
		if p.lang != "zh-CN" {
			if status, _, body := b.post("/lang", url.Values{"lang": {p.lang}, "back": {"/me"}}); status != 303 {
				t.Fatalf("switch to %s: %d\n%s", p.lang, status, body)
			}
		}
		b.get(path)
		if status, _, body := b.post(path+"/enter", url.Values{"patient_id": {patient}}); status != 303 {
			t.Fatalf("%s enters the draw: %d\n%s", p.name, status, body)
		}
		first := fmt.Sprintf("11010519800102%03d", 20+i) // patientOf's
		ids[p.phone] = first + string(fairslot.ResidentCheckDigit(first))
	}
	e.advance(2 * time.Hour)
	if _, err := e.svc.RunDraw(ctx, app.System, draw); err != nil {
		t.Fatal(err)
	}
	words := map[string]struct{ won, lost, offer string }{
		"zh-CN": {"中签", "未中签", "已为"},
		"vi":    {"được chọn", "không được chọn", "có một chỗ trống"},
		"en":    {"won a place", "was not drawn", "a place has been freed"},
	}
	var winner struct{ phone, lang string }
	var losers []int
	for i, p := range people {
		msgs := e.outbox(t, p.phone)
		if len(msgs) != 1 {
			t.Fatalf("%s's draw messages: %q; want one", p.name, msgs)
		}
		masked := string([]rune(p.name)[:1]) + "*"
		m := msgs[0]
		if !strings.Contains(m, masked) || strings.Contains(m, p.name) || strings.Contains(m, p.phone) || !strings.Contains(m, localdate.Day(p.lang, time.Date(2026, 12, 12, 0, 0, 0, 0, time.UTC))) || strings.Contains(m, "Dr New") == false {
			t.Errorf("%s's draw message names the patient other than %s, or lacks the session: %q", p.name, masked, m)
		}
		w := words[p.lang]
		switch {
		case strings.Contains(m, w.won) && !strings.Contains(m, w.lost):
			winner.phone, winner.lang = p.phone, p.lang
			if !strings.Contains(m, "14:00–14:30") || !strings.Contains(m, localdate.Day(p.lang, time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC))+" 1") {
				t.Errorf("the win message lacks the place's time or the pay-by time: %q", m)
			}
		case strings.Contains(m, w.lost):
			losers = append(losers, i)
		default:
			t.Errorf("%s's draw message is not a result in %s: %q", p.name, p.lang, m)
		}
	}
	if winner.phone == "" || len(losers) != 2 {
		t.Fatalf("winner %v, losers %v", winner, losers)
	}
	// The winner cancels: the first on the waitlist is offered the place.
	wa := e.actorOf(t, winner.phone)
	bs, err := e.svc.Bookings(ctx, wa)
	if err != nil || len(bs) != 1 {
		t.Fatalf("the winner's bookings: %v %v", bs, err)
	}
	if _, err := e.svc.Cancel(ctx, wa, bs[0].ID); err != nil {
		t.Fatal(err)
	}
	offered := 0
	for _, i := range losers {
		p := people[i]
		msgs := e.outbox(t, p.phone)
		if len(msgs) == 2 {
			offered++
			m := msgs[1]
			ws, err := e.svc.Waitlists(ctx, e.actorOf(t, p.phone))
			if err != nil || len(ws) != 1 || ws[0].Offer == nil {
				t.Fatalf("the offered waitlist place: %+v %v", ws, err)
			}
			payBy := localdate.Stamp(p.lang, ws[0].Offer.PayBy.In(loc))
			if !strings.Contains(m, words[p.lang].offer) || !strings.Contains(m, payBy) || !strings.Contains(m, "14:00–14:30") || strings.Contains(m, p.name) {
				t.Errorf("%s's offer message (%s, pay by %s): %q", p.name, p.lang, payBy, m)
			}
		}
		for _, m := range msgs {
			if strings.Contains(m, ids[p.phone]) || strings.Contains(m, ids[p.phone][14:]) {
				t.Errorf("a message holds the ID number: %q", m)
			}
		}
	}
	if offered != 1 {
		t.Errorf("%d losers were offered the freed place; want 1", offered)
	}
}
