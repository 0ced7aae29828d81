package etcdstore

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"steward.dev/pkg/store"
)

// DefaultMaxBatch bounds how many Update calls share one etcd transaction.
const DefaultMaxBatch = 64

// batchTimeout bounds the commit of a batch of several calls, which no
// single caller's context may cancel.
const batchTimeout = 30 * time.Second

// call is one Update waiting to commit.
type call struct {
	ctx    context.Context
	fn     func(tx store.Tx) error
	fenced bool       // its context belongs to a leadership: it commits alone
	done   chan error // its result; buffered
}

// batchQueue is the calls waiting for the committer, in arrival order.
type batchQueue struct {
	mu    sync.Mutex
	calls []*call
}

func (q *batchQueue) push(c *call) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, c)
}

// take removes and returns the next batch: up to max calls in arrival order,
// a fenced call always alone.
func (q *batchQueue) take(max int) []*call {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.calls) && n < max {
		if q.calls[n].fenced {
			if n == 0 {
				n = 1
			}
			break
		}
		n++
	}
	batch := append([]*call(nil), q.calls[:n]...)
	q.calls = q.calls[n:]
	return batch
}

// Update implements store.Store. The call queues; whoever holds the writer
// lock commits the queue batch by batch, so the call is committed either by
// an earlier caller's batch or, once this caller holds the lock, by its own.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	_, fenced := s.fenceOf(ctx)
	c := &call{ctx: ctx, fn: fn, fenced: fenced, done: make(chan error, 1)}
	s.queue.push(c)
	s.writer.Lock()
	defer s.writer.Unlock()
	for {
		select {
		case err := <-c.done:
			return err
		default:
		}
		s.commitBatch(s.queue.take(DefaultMaxBatch))
	}
}

// commitBatch runs the calls' functions one after the other on one
// transaction and commits it, running them all again on a new snapshot when
// a concurrent commit changed what they read. A function that fails has its
// writes and hooks undone and gets its error; the others commit. Each call
// gets its result on its done channel, after its commit hooks have run.
func (s *Store) commitBatch(batch []*call) {
	if len(batch) == 0 {
		return
	}
	commitCtx, cancel := batch[0].ctx, context.CancelFunc(func() {})
	if len(batch) > 1 {
		commitCtx, cancel = context.WithTimeout(context.Background(), batchTimeout)
	}
	defer cancel()
	for attempt := 0; ; attempt++ {
		tx := &txn{s: s, writes: map[string]*[]byte{}}
		results := make([]error, len(batch))
		hooks := make([][2]int, len(batch)) // each call's hooks: tx.hooks[from:to]
		ran := 0
		for i, c := range batch {
			if err := c.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			saved, from := maps.Clone(tx.writes), len(tx.hooks)
			tx.ctx, tx.err = c.ctx, nil
			err := c.fn(tx)
			if err == nil {
				err = tx.err // a read failed but fn did not return it
			}
			if err != nil {
				tx.writes, tx.hooks = saved, tx.hooks[:from]
				results[i] = err
				continue
			}
			hooks[i] = [2]int{from, len(tx.hooks)}
			ran++
		}
		if ran == 0 {
			deliver(batch, results)
			return
		}
		tx.ctx = commitCtx
		ok, err := tx.commit()
		if errors.Is(err, ErrTooLarge) && len(batch) > 1 {
			// Together too large: each on its own says whether it fits.
			for _, c := range batch {
				s.commitBatch([]*call{c})
			}
			return
		}
		if err != nil || ok || attempt >= s.opts.Retries {
			if err == nil && !ok {
				err = store.ErrConflict
			}
			for i := range batch {
				if results[i] != nil {
					continue
				}
				if err != nil {
					results[i] = err
					continue
				}
				for _, hook := range tx.hooks[hooks[i][0]:hooks[i][1]] {
					hook()
				}
			}
			deliver(batch, results)
			return
		}
		// Back off a little, with jitter, so that replicas retrying the
		// same keys do not collide again and again.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 6))) + 100*time.Microsecond
		select {
		case <-commitCtx.Done():
			deliver(batch, fill(results, commitCtx.Err()))
			return
		case <-time.After(wait):
		}
	}
}

// fill sets every nil result to err.
func fill(results []error, err error) []error {
	for i := range results {
		if results[i] == nil {
			results[i] = err
		}
	}
	return results
}

// deliver sends each call its result.
func deliver(batch []*call, results []error) {
	for i, c := range batch {
		c.done <- results[i]
	}
}
