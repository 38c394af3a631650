package gate

import (
	"context"
	"sync/atomic"
	"time"
)

// Lane is one class of traffic's share of the server: at most Active
// requests run at once, at most Queue more wait, and none waits longer than
// Deadline. A request that cannot be admitted is refused at once, so excess
// traffic costs a counter check and nothing that outlives the request.
type Lane struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
	deadline time.Duration
}

// Shed says why a lane refused a request.
type Shed string

// The reasons a lane sheds a request.
const (
	QueueFull Shed = "queue_full" // Queue requests were already waiting
	Deadline  Shed = "deadline"   // no place came free within Deadline
	Gone      Shed = "gone"       // the client went away while waiting
)

// NewLane returns a lane for active running and queue waiting requests,
// each waiting at most deadline.
func NewLane(active, queue int, deadline time.Duration) *Lane {
	return &Lane{slots: make(chan struct{}, max(active, 1)), maxQueue: int64(queue), deadline: deadline}
}

// Acquire admits a request, waiting for a place if the lane is busy. On
// success the caller must call Release when the request ends; waited is how
// long it queued.
func (l *Lane) Acquire(ctx context.Context) (waited time.Duration, shed Shed) {
	select {
	case l.slots <- struct{}{}:
		return 0, ""
	default:
	}
	if l.waiting.Add(1) > l.maxQueue {
		l.waiting.Add(-1)
		return 0, QueueFull
	}
	defer l.waiting.Add(-1)
	start := time.Now()
	t := time.NewTimer(l.deadline)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return time.Since(start), ""
	case <-t.C:
		return time.Since(start), Deadline
	case <-ctx.Done():
		return time.Since(start), Gone
	}
}

// Release gives back the place of a request Acquire admitted.
func (l *Lane) Release() { <-l.slots }

// Load is how full the lane is: running and waiting requests over the
// running capacity, so 1 means every place is taken and above 1 that
// requests queue.
func (l *Lane) Load() float64 {
	return float64(len(l.slots)+int(l.waiting.Load())) / float64(cap(l.slots))
}

// Active reports how many requests run in the lane now.
func (l *Lane) Active() int { return len(l.slots) }

// Waiting reports how many requests wait for a place now.
func (l *Lane) Waiting() int { return int(l.waiting.Load()) }
