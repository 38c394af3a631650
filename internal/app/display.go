package app

import (
	"context"
	"slices"
	"sync"
	"time"

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
	CalledAt time.Time `json:"called_at"`
}

type boardKey struct {
	department int64
	date       string
}

// board is one department's board as last read: every screen of the
// department, and every stream, takes it from here, so a call read once
// serves them all — not one database read per screen per change.
type board struct {
	mu    sync.Mutex // held while it is read: the screens that come meanwhile wait for it
	gen   uint64
	at    time.Time
	calls []Call
}

// boardFresh is how long a board read is shown without a change published
// on this node (a change on another node shows within it, or at the
// streams' next refresh).
const boardFresh = time.Second

// Board returns who is being called in a department today.
func (s *Service) Board(ctx context.Context, departmentID int64) ([]Call, error) {
	if s.Display == nil {
		return s.readBoard(ctx, departmentID)
	}
	now := s.now()
	v, _ := s.Display.boards.LoadOrStore(boardKey{departmentID, now.Format(time.DateOnly)}, &board{})
	b := v.(*board)
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen := s.Display.gen(departmentID); b.calls == nil || b.gen != gen || now.Sub(b.at) >= boardFresh || now.Before(b.at) {
		calls, err := s.readBoard(ctx, departmentID)
		if err != nil {
			return nil, err
		}
		b.gen, b.at, b.calls = gen, now, calls
	}
	return slices.Clone(b.calls), nil
}

// readBoard reads who is being called in a department today.
func (s *Service) readBoard(ctx context.Context, departmentID int64) ([]Call, error) {
	out := []Call{}
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		cs, err := tx.Calling(ctx, departmentID, s.now().Format(time.DateOnly))
		if err != nil {
			return err
		}
		for _, c := range cs {
			name, err := s.Vault.Open(patientField(c.PatientRef, "name"), c.NameSealed)
			if err != nil {
				return err
			}
			out = append(out, Call{Ticket: c.Ticket.Label(), Name: vault.MaskName(name), Room: c.Room, CalledAt: c.Booking.UpdatedAt})
		}
		return nil
	})
	return out, err
}
