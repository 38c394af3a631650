package app

import (
	"context"
	"sync"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Broker tells waiting-room boards that their department's calls changed.
// It carries no data: a board re-reads its snapshot, so a missed signal only
// delays an update and never shows a wrong one. It is per process; boards
// also re-read on a timer, which covers calls made on another node.
type Broker struct {
	mu   sync.Mutex
	subs map[int64]map[chan struct{}]struct{}
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{subs: map[int64]map[chan struct{}]struct{}{}} }

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

// Board returns who is being called in a department today.
func (s *Service) Board(ctx context.Context, departmentID int64) ([]Call, error) {
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
