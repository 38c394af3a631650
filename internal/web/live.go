package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/storage"
)

// Live parts of pages: a patient's turn in the queue (the booking page) and
// a doctor's room, kept current over server-sent events instead of a page
// that reloads itself. Each stream sends the part's HTML, rendered by the
// same template block as the page, whenever it changes: at once, when the
// department's broker signals a call or a check-in, and every
// BoardRefresh in any case (changes made on another node). static/live.js
// puts it in place and reconnects as the waiting-room boards do; without
// script the page says to reload it.
//
// Streams are admitted by the front door to its listener's stream pool
// (Streamed, below), never to a lane: a patient's stream takes a place of
// the public pool, capped per address prefix, device and account, so no
// number of them can hold a booking's place; a staff member's takes one of
// the staff's pool. A stream that came any other way is refused.

// Streamed reports whether a page request opens one of these streams.
func Streamed(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/events") {
		return false
	}
	for _, prefix := range []string{"/bookings/", "/staff/sessions/"} {
		if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
			id, tail, _ := strings.Cut(rest, "/")
			return id != "" && tail == "events"
		}
	}
	return false
}

// liveRoutes adds the streams of the listener's pages.
func (p *Pages) livePortalRoutes(h func(string, handler)) {
	h("GET /bookings/{id}/events", p.patient(p.bookingEvents))
}

func (p *Pages) liveStaffRoutes(h func(string, handler)) {
	h("GET /staff/sessions/{id}/events", p.staff(p.roomEvents))
}

// bookingEvents streams the live part of a patient's booking page: its
// status and, once checked in, their turn.
func (p *Pages) bookingEvents(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := p.API.App.Booking(r.Context(), a, id)
	if err != nil {
		return err
	}
	// The login is checked again at each read, without refreshing it (a
	// stream cannot set the cookies a refresh turns): when the access token
	// expires the stream ends, and the browser's reconnect refreshes.
	tok := newSessionCookie(w) // patientActor refreshed: the new one
	if c, err := r.Cookie(SessionCookie); tok == "" && err == nil {
		tok = c.Value
	}
	return p.stream(w, r, "booking", "bookinglive", b.DepartmentID, func() (any, error) {
		if err := p.stillLoggedIn(r, tok, storage.AccountToken); err != nil {
			return nil, err // logged out, revoked or expired: the stream ends
		}
		b, err := p.API.App.Booking(r.Context(), a, id)
		return bookingPage{BookingView: b}, err
	})
}

// roomEvents streams the live part of a doctor's room: who is called and
// the queue in calling order.
func (p *Pages) roomEvents(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	first, err := p.roomData(r, a, id)
	if err != nil {
		return err
	}
	tok := ""
	if c, err := r.Cookie(StaffCookie); err == nil {
		tok = c.Value
	}
	sent := false
	return p.stream(w, r, "room", "roomlive", first.Session.DepartmentID, func() (any, error) {
		if !sent {
			sent = true
			return first, nil
		}
		if err := p.stillLoggedIn(r, tok, storage.StaffToken); err != nil {
			return nil, err // logged out, revoked or expired: the stream ends
		}
		return p.roomData(r, a, id)
	})
}

// stream sends the block of page name that read renders, as "live" events
// of {"html": …}, through the API's one stream loop (httpapi.Server.Stream:
// the stream pool, the department's signal, a login's end).
func (p *Pages) stream(w http.ResponseWriter, r *http.Request, name, block string, department int64, read func() (any, error)) error {
	t, v, err := p.page(w, r, name, "")
	if err != nil {
		return err
	}
	return p.API.Stream(w, r, department, "live", func() ([]byte, error) {
		data, err := read()
		if err != nil {
			return nil, err
		}
		v.Data = data
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, block, v); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"html": buf.String()})
	})
}

// stillLoggedIn checks a stream's login token again: a token logged out,
// revoked or expired since the stream opened ends it.
func (p *Pages) stillLoggedIn(r *http.Request, tok string, kind storage.TokenKind) error {
	a, err := p.API.Actor(r, tok)
	if err == nil && a.Kind != kind {
		err = fairslot.Errorf(fairslot.Unauthorized, "log in with the right kind of account")
	}
	return err
}

// roomData reads a room's page: the session, who is called and the queue
// in calling order.
func (p *Pages) roomData(r *http.Request, a app.Actor, id int64) (roomPage, error) {
	rp := roomPage{CanReveal: a.Role.Can(fairslot.ActReveal)}
	var err error
	if rp.Session, err = p.API.App.Session(r.Context(), id); err != nil {
		return rp, err
	}
	q, err := p.API.App.Queue(r.Context(), a, id)
	if err != nil {
		return rp, err
	}
	for i := range q {
		if q[i].Status == fairslot.Called {
			rp.Called = &q[i]
		} else {
			rp.Queue = append(rp.Queue, q[i])
		}
	}
	slices.SortFunc(rp.Queue, func(x, y app.QueueItem) int { return x.Turn - y.Turn }) // the calling order
	return rp, nil
}

// keepLanguage records a patient's page language for the messages written
// to their account later (a waitlist offer, a draw result). It never fails
// the page: a token that no longer logs in, or a store that does not
// answer, leaves the language last recorded (logged).
func (p *Pages) keepLanguage(r *http.Request, tok, lang string) {
	a, err := p.API.Actor(r, tok)
	if err != nil || a.Kind != storage.AccountToken {
		return
	}
	if err := p.API.App.SetLanguage(r.Context(), a, lang); err != nil {
		p.Log.Warn("the account's language was not recorded", "request_id", httpapi.RequestID(r), "err", err)
	}
}
