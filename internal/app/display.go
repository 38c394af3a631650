package app

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Broker tells waiting-room boards that their department's calls changed,
// and the live pages (a patient's turn, a doctor's room) that its queues
// did (a call or a check-in).
// It carries no data: a board re-reads its snapshot, so a missed signal only
// delays an update and never shows a wrong one. It is per process; boards
// also re-read on a timer, which covers calls made on another node.
type Broker struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}
	gens map[int64]uint64 // per department: how many changes were published

	boards sync.Map // boardKey → *board: each department's board, read once for all its screens
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{subs: map[int64]map[chan struct{}]struct{}{}, gens: map[int64]uint64{}}
}

// gen is how many changes were published for a department.
func (b *Broker) gen(department int64) uint64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gens[department]
}

// Subscribe returns a channel signalled when a department's calls change,
// and a function that ends the subscription.
func (b *Broker) Subscribe(department int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[department] == nil {
		b.subs[department] = map[chan struct{}]struct{}{}
	}
	b.subs[department][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[department], ch)
		if len(b.subs[department]) == 0 {
			delete(b.subs, department)
		}
		b.mu.Unlock()
	}
}

// Publish signals every subscriber of a department without blocking.
func (b *Broker) Publish(department int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gens[department]++
	for ch := range b.subs[department] {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// Call is one line of a waiting-room board.
type Call struct {
	Ticket   string    `json:"ticket"`
	Name     string    `json:"name"` // masked
	Room     string    `json:"room"`
	CalledAt time.Time `json:"called_at,omitzero"` // the last call or recall
	Recalls  int       `json:"recalls,omitempty"`  // called again since the call
}

// BoardView is what a department's waiting-room board shows.
type BoardView struct {
	// Calls are the tickets being called, the latest call or recall first.
	Calls []Call `json:"calls"`
	// Next are the tickets to get ready: each room's next BoardNext in its
	// calling order (queue.Policy.Upcoming), room by room.
	Next []Call `json:"next"`
}

// BoardNext is how many of each room's waiting patients a board asks to
// get ready.
const BoardNext = 3

type boardKey struct {
	department int64
	date       string
}

// board is one department's board as last read: every screen of the
// department, and every stream, takes it from here, so a call read once
// serves them all — not one database read per screen per change.
type board struct {
	mu   sync.Mutex // held while it is read: the screens that come meanwhile wait for it
	gen  uint64
	at   time.Time
	read bool
	view BoardView
}

// boardFresh is how long a board read is shown without a change published
// on this node (a change on another node shows within it, or at the
// streams' next refresh).
const boardFresh = time.Second

// Board returns who is being called in a department today, and who is to
// get ready.
func (s *Service) Board(ctx context.Context, departmentID int64) (BoardView, error) {
	if s.Display == nil {
		return s.readBoard(ctx, departmentID)
	}
	now := s.now()
	v, _ := s.Display.boards.LoadOrStore(boardKey{departmentID, now.Format(time.DateOnly)}, &board{})
	b := v.(*board)
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen := s.Display.gen(departmentID); !b.read || b.gen != gen || now.Sub(b.at) >= boardFresh || now.Before(b.at) {
		view, err := s.readBoard(ctx, departmentID)
		if err != nil {
			return BoardView{}, err
		}
		b.gen, b.at, b.read, b.view = gen, now, true, view
	}
	return BoardView{Calls: slices.Clone(b.view.Calls), Next: slices.Clone(b.view.Next)}, nil
}

// readBoard reads who is being called in a department today and, room by
// room, who comes next in the calling order CallNext follows.
func (s *Service) readBoard(ctx context.Context, departmentID int64) (BoardView, error) {
	out := BoardView{Calls: []Call{}, Next: []Call{}}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		q, err := tx.DepartmentQueue(ctx, departmentID, s.now().Format(time.DateOnly))
		if err != nil {
			return err
		}
		call := func(e storage.QueueEntry) (Call, error) {
			name, err := s.Vault.Open(patientField(e.PatientRef, "name"), e.NameSealed)
			return Call{Ticket: e.Ticket.Label(), Name: vault.MaskName(name), Room: e.Room, CalledAt: e.CalledAt, Recalls: e.Recalls}, err
		}
		// q is by session, each in queue order: one room at a time.
		for len(q) > 0 {
			n := 1
			for n < len(q) && q[n].Booking.SessionID == q[0].Booking.SessionID {
				n++
			}
			room := q[:n]
			q = q[n:]
			var waiting []storage.QueueEntry
			var priority []bool
			for _, e := range room {
				if e.Booking.Status == fairslot.Called {
					c, err := call(e)
					if err != nil {
						return err
					}
					out.Calls = append(out.Calls, c)
				} else {
					waiting, priority = append(waiting, e), append(priority, e.Booking.Priority != "")
				}
			}
			if len(waiting) == 0 {
				continue
			}
			recent, err := tx.RecentCalls(ctx, room[0].Booking.SessionID, max(s.Calling.PriorityEvery-1, 0))
			if err != nil {
				return err
			}
			for _, i := range s.Calling.Upcoming(priority, recent, BoardNext) {
				c, err := call(waiting[i])
				if err != nil {
					return err
				}
				out.Next = append(out.Next, c)
			}
		}
		return nil
	})
	slices.SortStableFunc(out.Calls, func(a, b Call) int { return b.CalledAt.Compare(a.CalledAt) })
	return out, err
}

// Waiting counts the patients checked in and not yet called in each
// session of the departments on a date, by session: the staff console's
// waiting counts (no personal data).
func (s *Service) Waiting(ctx context.Context, date string, departments []int64) (map[int64]int, error) {
	n := map[int64]int{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		for _, d := range departments {
			q, err := tx.DepartmentQueue(ctx, d, date)
			if err != nil {
				return err
			}
			for _, e := range q {
				if e.Booking.Status == fairslot.CheckedIn {
					n[e.Booking.SessionID]++
				}
			}
		}
		return nil
	})
	return n, err
}
