package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

func (s *Server) departments(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.App.Departments(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"departments": ds})
}

func (s *Server) doctors(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ds, err := s.App.Doctors(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"doctors": ds})
}

// sessions serves both /departments/{id}/sessions and /doctors/{id}/sessions.
func (s *Server) sessions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f := storage.SessionFilter{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}
	if r.Pattern == "GET /api/v1/doctors/{id}/sessions" {
		f.DoctorID = id
	} else {
		f.DepartmentID = id
	}
	ss, err := s.App.Sessions(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"sessions": ss})
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := s.App.Session(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, v)
}

func (s *Server) requestCode(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.App.RequestLoginCode(r.Context(), anonymous(r), in.Phone); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "sent"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Phone string `json:"phone"`
		Code  string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	tok, acct, err := s.App.Login(r.Context(), anonymous(r), in.Phone, in.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"token": tok, "account": acct})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	tok := r.Header.Get("Authorization")[len("Bearer "):]
	if err := s.App.Logout(r.Context(), a, tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) patients(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	ps, err := s.App.Patients(r.Context(), a)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"patients": ps})
}

func (s *Server) bindPatient(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	var in app.PatientInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	p, err := s.App.BindPatient(r.Context(), a, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) bookings(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	bs, err := s.App.Bookings(r.Context(), a)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []app.BookingView{}
	}
	return writeJSON(w, 200, map[string]any{"bookings": bs})
}

func (s *Server) hold(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	var in app.HoldInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.SessionID <= 0 || in.PatientID <= 0 {
		return fairslot.Errorf(fairslot.Invalid, "session_id and patient_id are required")
	}
	in.RequestKey = r.Header.Get("Idempotency-Key")
	b, err := s.App.Hold(r.Context(), a, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

func (s *Server) booking(w http.ResponseWriter, r *http.Request) error {
	return s.bookingAction(w, r, func(ctx context.Context, a app.Actor, id int64) (app.BookingView, error) {
		return s.App.Booking(ctx, a, id)
	})
}

func (s *Server) pay(w http.ResponseWriter, r *http.Request) error {
	return s.bookingAction(w, r, func(ctx context.Context, a app.Actor, id int64) (app.BookingView, error) {
		return s.App.Pay(ctx, a, id, r.Header.Get("Idempotency-Key"))
	})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	return s.bookingAction(w, r, s.App.Cancel)
}

func (s *Server) bookingAction(w http.ResponseWriter, r *http.Request, fn func(context.Context, app.Actor, int64) (app.BookingView, error)) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	b, err := fn(r.Context(), a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, b)
}

func (s *Server) staffLogin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	tok, st, err := s.App.StaffLogin(r.Context(), anonymous(r), in.Username, in.Password)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"token": tok, "staff": st})
}

func (s *Server) checkIn(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	var in struct {
		Code    string `json:"code"`
		IDLast4 string `json:"id_last4"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.App.CheckIn(r.Context(), a, in.Code, in.IDLast4)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, res)
}

func (s *Server) walkIn(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	var in app.WalkInInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.App.WalkIn(r.Context(), a, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q, err := s.App.Queue(r.Context(), a, id)
	if err != nil {
		return err
	}
	if q == nil {
		q = []app.QueueItem{}
	}
	return writeJSON(w, 200, map[string]any{"queue": q})
}

func (s *Server) callNext(w http.ResponseWriter, r *http.Request) error {
	a, err := s.actor(r)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	item, err := s.App.CallNext(r.Context(), a, id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, item)
}

func (s *Server) callAction(fn func(context.Context, app.Actor, int64) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := fn(r.Context(), a, id); err != nil {
			return err
		}
		return writeJSON(w, 200, map[string]string{"status": "ok"})
	}
}

func (s *Server) board(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	calls, err := s.App.Board(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, map[string]any{"calls": calls})
}

// boardEvents streams a department's board as server-sent events: the
// whole board on connect and again whenever a call changes it, re-read every
// BoardRefresh in any case. The stream ends when the client goes or the
// server shuts down (the request context).
func (s *Server) boardEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	signal, stop := s.App.Display.Subscribe(id)
	defer stop()
	refresh := s.BoardRefresh
	if refresh == 0 {
		refresh = 5 * time.Second
	}
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	last := ""
	for {
		calls, err := s.App.Board(r.Context(), id)
		if err != nil {
			if r.Context().Err() != nil {
				return nil
			}
			s.Log.Warn("board read failed", "request_id", requestID(r), "err", err)
			fmt.Fprintf(w, ": board unavailable\n\n")
		} else if b, _ := json.Marshal(map[string]any{"calls": calls}); string(b) != last {
			last = string(b)
			fmt.Fprintf(w, "event: board\ndata: %s\n\n", b)
		} else {
			fmt.Fprintf(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-signal:
		case <-tick.C:
		}
	}
}
