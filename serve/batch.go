package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// job is one request's images for a model: the batcher runs them with
// others that came at the same time and writes their scores to out.
type job struct {
	m    *model
	x    []float32 // n images of m's input, InputSize floats each
	n    int
	out  []float32  // n rows of m's Classes scores, written by the batcher
	done chan error // buffered: the batcher never waits for a request that has gone
}

// batcher runs one model's jobs, several at once: the only goroutine that
// calls the model, whose scratch buffers make it unsafe for concurrent
// use. Jobs wait in a queue of at most capacity images.
type batcher struct {
	name     string
	maxBatch int
	maxDelay time.Duration // < 0: take only what is queued, never wait
	capacity int64
	log      *slog.Logger
	met      *metrics

	jobs   chan *job
	queued atomic.Int64 // images queued or running
	mu     sync.RWMutex // held for sending on jobs, and for closing it
	closed bool
	done   chan struct{} // closed when the loop has answered every job

	x, out []float32 // the batch, for jobs that run together
}

func newBatcher(name string, opt Options, log *slog.Logger, met *metrics) *batcher {
	b := &batcher{name: name, maxBatch: opt.MaxBatch, maxDelay: opt.MaxDelay, capacity: int64(opt.QueueSize),
		log: log, met: met, jobs: make(chan *job, opt.QueueSize), done: make(chan struct{})}
	go b.loop()
	return b
}

// submit queues j and waits for its scores, or for ctx to end. A queue without
// room for j's images refuses it at once with 503: the client should come
// back rather than wait behind an unbounded queue.
func (b *batcher) submit(ctx context.Context, j *job) error {
	n := int64(j.n)
	if n > b.capacity {
		return fail(http.StatusRequestEntityTooLarge, "%d images in one request; model %q queues at most %d (--queue): send fewer at a time", j.n, b.name, b.capacity)
	}
	for {
		q := b.queued.Load()
		if q+n > b.capacity {
			b.met.rejected.WithLabelValues(b.name).Inc()
			e := fail(http.StatusServiceUnavailable, "model %q is busy: %d images are queued, %d at most (--queue); retry shortly", b.name, q, b.capacity)
			e.retryAfter = 1
			return e
		}
		if b.queued.CompareAndSwap(q, q+n) {
			break
		}
	}
	j.done = make(chan error, 1)
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		b.queued.Add(-n)
		e := fail(http.StatusServiceUnavailable, "the server is shutting down; retry on another instance")
		e.retryAfter = 1
		return e
	}
	// Never blocks: the channel holds capacity jobs of an image or more.
	b.jobs <- j
	b.mu.RUnlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		// The client went away; its images still run, unanswered.
		return fail(http.StatusServiceUnavailable, "the request ended before its batch ran: %v", ctx.Err())
	}
}

// close stops the batcher once it has run every queued job, and waits for
// that.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.jobs)
	}
	b.mu.Unlock()
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	var carry *job
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-b.jobs; !ok {
				return
			}
		}
		batch, n := []*job{first}, first.n
		var timer *time.Timer
		var timeout <-chan time.Time
		if b.maxDelay > 0 && n < b.maxBatch {
			timer = time.NewTimer(b.maxDelay)
			timeout = timer.C
		}
	collect:
		for n < b.maxBatch {
			var next *job
			var ok bool
			if timeout == nil {
				select {
				case next, ok = <-b.jobs:
				default:
					break collect
				}
			} else {
				select {
				case next, ok = <-b.jobs:
				case <-timeout:
					break collect
				}
			}
			if !ok {
				break
			}
			// A job of another model (the file was reloaded in between)
			// or one that would overfill the batch starts the next.
			if next.m != first.m || n+next.n > b.maxBatch {
				carry = next
				break
			}
			batch, n = append(batch, next), n+next.n
		}
		if timer != nil {
			timer.Stop()
		}
		b.run(batch, n)
	}
}

// run runs the jobs of batch, n images together, and answers each. A job
// larger than a batch runs alone, a batch at a time.
func (b *batcher) run(batch []*job, n int) {
	m := batch[0].m
	size, classes := m.m.InputSize(), m.m.Classes
	var err error
	if len(batch) == 1 {
		j := batch[0]
		for i := 0; i < j.n && err == nil; i += b.maxBatch {
			k := min(b.maxBatch, j.n-i)
			err = b.forward(m, j.out[i*classes:(i+k)*classes], j.x[i*size:(i+k)*size], k)
		}
	} else {
		if len(b.x) < n*size {
			b.x = make([]float32, n*size)
		}
		if len(b.out) < n*classes {
			b.out = make([]float32, n*classes)
		}
		at := 0
		for _, j := range batch {
			copy(b.x[at*size:], j.x[:j.n*size])
			at += j.n
		}
		if err = b.forward(m, b.out[:n*classes], b.x[:n*size], n); err == nil {
			at = 0
			for _, j := range batch {
				copy(j.out, b.out[at*classes:(at+j.n)*classes])
				at += j.n
			}
		}
	}
	if err != nil {
		b.log.Error("model run failed", "model", b.name, "images", n, "err", err)
	}
	for _, j := range batch {
		b.queued.Add(-int64(j.n))
		j.done <- err
	}
}

// forward runs the model on k images. A panic in a backend is the
// server's fault, not the request's, and must not stop the server: it
// becomes the error of the batch's requests.
func (b *batcher) forward(m *model, out, x []float32, k int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("serve: model %q panicked: %v", m.name, r)
		}
	}()
	b.met.batch.WithLabelValues(b.name).Observe(float64(k))
	return m.m.InputLogits(out, x, k)
}
