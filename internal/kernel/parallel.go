package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel splits [0, n) into one contiguous range per CPU and runs fn on
// each range concurrently; worker is 0..workers-1, so callers can give each
// its own scratch space. The calling goroutine runs range 0.
//
// The ranges run on goroutines that persist between calls and wait for the
// next call spinning for a moment before they sleep: a training step or a
// single image makes many short parallel calls, and waking a sleeping
// goroutine costs about as much as a small kernel. A call made while another
// is in progress (nested, or from another goroutine) starts goroutines of
// its own instead.
func Parallel(n int, fn func(worker, lo, hi int)) {
	w := min(Workers(), n)
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	if p := sharedPool(); p.busy.CompareAndSwap(false, true) {
		p.run(n, w, fn)
		p.busy.Store(false)
		return
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		go func(i int) {
			defer wg.Done()
			fn(i, i*n/w, (i+1)*n/w)
		}(i)
	}
	fn(0, 0, n/w)
	wg.Wait()
}

// Workers is how many goroutines Parallel uses: GOMAXPROCS, but never more
// than MaxWorkers nor than a limit SetWorkers set.
func Workers() int {
	w := min(runtime.GOMAXPROCS(0), maxWorkers)
	if l := int(workerLimit.Load()); l > 0 {
		w = min(w, l)
	}
	return w
}

// SetWorkers limits Workers to n for the rest of the program (n < 1: no
// limit). A server that runs many small batches at once sets 1: splitting
// each between the CPUs costs more in waiting than it saves, and the other
// CPUs have requests of their own to parse and answer.
func SetWorkers(n int) { workerLimit.Store(int64(max(n, 0))) }

var workerLimit atomic.Int64

// MaxWorkers bounds Workers for the life of the program: it is GOMAXPROCS
// as the program started. Scratch space kept per worker between calls is
// sized by it, so that a later change of GOMAXPROCS cannot hand Parallel's
// function a worker index beyond it.
func MaxWorkers() int { return maxWorkers }

var maxWorkers = runtime.GOMAXPROCS(0)

// spinFor is how long an idle helper polls for the next call before it
// sleeps: longer than the serial stretches between the kernels of a
// training step, short enough not to burn a CPU for an idle program.
const spinFor = 200 * time.Microsecond

// pool is the helpers of Parallel. One call runs at a time (busy). The
// caller hands each helper that has a range a ticket for the call, bumps
// epoch and runs range 0; a helper that sees the new epoch takes its
// ticket, runs its range and decrements pending, the last one waking the
// caller if it sleeps. A helper late to take its ticket (asleep, or
// descheduled on a busy machine) loses it to the caller, which then runs
// that range itself: the result is the same, since each range still runs
// with its own worker index, and the call never waits for a helper that
// has not started.
type pool struct {
	size    int // the caller and its helpers
	busy    atomic.Bool
	epoch   atomic.Uint64
	pending atomic.Int64 // helpers' ranges not yet done
	// The call in progress, written before epoch is bumped.
	fn   func(worker, lo, hi int)
	n, w int
	help []*helper
	// The caller sleeps on done once it has waited spinFor.
	waiting atomic.Bool
	done    chan struct{}
}

// helper is one of the pool's goroutines. ticket is the epoch of a call
// with a range for it not yet taken, else 0. A goroutine that sees
// sleeping set clears it and then owes the helper one wake-up.
type helper struct {
	ticket   atomic.Uint64
	sleeping atomic.Bool
	wake     chan struct{}
}

var (
	poolOnce sync.Once
	thePool  *pool
)

func sharedPool() *pool {
	poolOnce.Do(func() {
		thePool = &pool{size: maxWorkers, done: make(chan struct{}, 1)}
		for i := 1; i < thePool.size; i++ {
			h := &helper{wake: make(chan struct{}, 1)}
			thePool.help = append(thePool.help, h)
			go thePool.serve(i, h)
		}
	})
	return thePool
}

func (p *pool) run(n, w int, fn func(worker, lo, hi int)) {
	p.fn, p.n, p.w = fn, n, w
	p.pending.Store(int64(w - 1))
	e := p.epoch.Load() + 1
	for _, h := range p.help[:w-1] {
		h.ticket.Store(e)
	}
	p.epoch.Store(e)
	for _, h := range p.help[:w-1] {
		if h.sleeping.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
	fn(0, 0, n/w)
	for i, h := range p.help[:w-1] {
		if h.ticket.CompareAndSwap(e, 0) {
			p.runRange(i + 1)
		}
	}
	if !spinUntil(func() bool { return p.pending.Load() == 0 }) {
		p.waiting.Store(true)
		if p.pending.Load() != 0 || !p.waiting.CompareAndSwap(true, false) {
			<-p.done // the last helper saw us waiting
		}
	}
	p.fn = nil
}

// runRange runs range i of the call in progress and counts it done.
func (p *pool) runRange(i int) {
	p.fn(i, i*p.n/p.w, (i+1)*p.n/p.w)
	if p.pending.Add(-1) == 0 && p.waiting.CompareAndSwap(true, false) {
		p.done <- struct{}{}
	}
}

// spinUntil polls cond for up to spinFor and reports whether it came true.
func spinUntil(cond func() bool) bool {
	start := time.Now()
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i&1023 == 0 {
			if time.Since(start) > spinFor {
				return false
			}
			runtime.Gosched()
		}
	}
}

// serve runs helper i's share of every call it gets to in time.
func (p *pool) serve(i int, h *helper) {
	var seen uint64 // the pool was made at epoch 0
	for {
		seen = p.await(h, seen)
		if h.ticket.CompareAndSwap(seen, 0) {
			p.runRange(i)
		}
	}
}

// await returns the epoch of the next call after seen.
func (p *pool) await(h *helper, seen uint64) uint64 {
	for {
		var e uint64
		if spinUntil(func() bool { e = p.epoch.Load(); return e != seen }) {
			return e
		}
		h.sleeping.Store(true)
		if e := p.epoch.Load(); e != seen {
			if h.sleeping.CompareAndSwap(true, false) {
				return e
			}
			<-h.wake // the caller saw us asleep and sent this
			return e
		}
		<-h.wake
		// A caller that was held up between publishing its call and
		// waking us can send the wake-up after we ran that call: then
		// there is no new call yet, and we wait again.
		if e := p.epoch.Load(); e != seen {
			return e
		}
	}
}
