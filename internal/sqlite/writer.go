package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

// Group commit. Every write goes through one writer goroutine. It takes the
// requests waiting at that moment (at most maxBatch), runs each in its own
// SAVEPOINT inside one BEGIN IMMEDIATE transaction, and commits them
// together: a burst of concurrent bookings at a slot release shares one
// durable commit instead of queueing for one fsync each. A request that
// fails is rolled back to its savepoint alone; if the commit itself fails,
// every request of the batch gets the error, so nothing is acknowledged that
// was not written; if the failure of one request ended the transaction
// itself (SQLite does so on a full disk), every request gets its cause. A
// lone request runs with no savepoint, as before.

const maxBatch = 64

type writeReq struct {
	ctx  context.Context
	fn   func(storage.Tx) error
	done chan error // buffered: the writer never blocks on a caller
}

// errClosed is returned by writes to a closed store.
var errClosed = &fairslot.Error{Kind: fairslot.Unavailable, Message: "the server is shutting down; retry in a few seconds"}

// Update runs fn in a write transaction, possibly committed together with
// other writers' (see above); fn's changes are durable when it returns nil.
func (s *Store) Update(ctx context.Context, fn func(storage.Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errClosed
	}
	// Once taken, the request's outcome is awaited even if ctx ends: it may
	// already be part of a commit, and the caller must not be told otherwise.
	return <-req.done
}

// writer owns the write connection's transactions until the store closes.
func (s *Store) writer() {
	defer close(s.writerDone)
	for {
		var batch []*writeReq
		select {
		case r := <-s.writes:
			batch = append(batch, r)
		case <-s.closing:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeReq) {
	// The batch's statements run detached from any one request's context:
	// cancelling one request must not interrupt, and so roll back, the others.
	ctx := context.Background()
	results := make([]error, len(batch))
	finish := func(err error) {
		s.writeStmts.prepare(ctx)
		for i, r := range batch {
			if err != nil && results[i] == nil {
				results[i] = err
			}
			r.done <- formatError(results[i])
		}
	}
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	t := &tx{tx: sqlTx, loc: s.loc, stmts: s.writeStmts, detached: true}
	single := len(batch) == 1
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if single {
			results[i] = runFn(r.fn, t)
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT request"); err != nil {
			results[i] = err
			continue
		}
		if results[i] = runFn(r.fn, t); results[i] != nil {
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO request"); err != nil {
				sqlTx.Rollback()
				finish(lostBatch(results[i], fmt.Errorf("rollback to savepoint: %w", err)))
				return
			}
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE request"); err != nil {
			sqlTx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if single && results[0] != nil {
		sqlTx.Rollback()
		finish(nil)
		return
	}
	if err := sqlTx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", err))
		return
	}
	s.commits.Add(1)
	s.committedWrites.Add(int64(len(batch)))
	finish(nil)
}

// lostBatch is the error every request of a batch gets when the savepoint
// of a failed request cannot be rolled back to. On a full disk, an I/O error
// or no memory SQLite may roll back the whole transaction by itself: the
// savepoint is then gone with the work of the requests before, and the
// cause, a storage fault, is what they must all be told (a 503 to retry, not
// an internal error).
func lostBatch(cause, rollbackErr error) error {
	if f := storage.FaultOf(formatError(cause)); f != nil {
		return fmt.Errorf("%w (the transaction was rolled back: %v)", f, rollbackErr)
	}
	return rollbackErr
}

// WriteStats reports how many transactions the writer committed and how
// many write requests they carried: their quotient is the group-commit gain.
func (s *Store) WriteStats() (commits, writes int64) {
	return s.commits.Load(), s.committedWrites.Load()
}

// runFn runs a request's function, turning a panic into an error so that
// one bad request cannot take the writer, and every other request, down.
func runFn(fn func(storage.Tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a write transaction: %v\n%s", p, debug.Stack())
		}
	}()
	if err = fn(t); err == nil {
		return nil
	}
	var fe *fairslot.Error
	if !errors.As(err, &fe) && errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("write transaction ended early: %w", err)
	}
	return err
}
