package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelCoversRange: every index is visited once, by the worker
// whose range holds it, for sizes around the number of workers.
func TestParallelCoversRange(t *testing.T) {
	for n := 0; n <= 3*Workers()+2; n++ {
		seen := make([]atomic.Int32, n)
		Parallel(n, func(w, lo, hi int) {
			if w < 0 || w >= Workers() || lo > hi {
				t.Errorf("n=%d: worker %d got [%d, %d)", n, w, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, c)
			}
		}
	}
}

// TestParallelWorkersBounded: raising GOMAXPROCS after the start does not
// hand out worker indices beyond MaxWorkers, which scratch space is sized by.
func TestParallelWorkersBounded(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(MaxWorkers() + 3))
	var worst atomic.Int64
	Parallel(100, func(w, lo, hi int) {
		for {
			old := worst.Load()
			if int64(w) <= old || worst.CompareAndSwap(old, int64(w)) {
				break
			}
		}
	})
	if int(worst.Load()) >= MaxWorkers() {
		t.Errorf("worker %d with MaxWorkers %d", worst.Load(), MaxWorkers())
	}
}

// TestSetWorkers: a limit of 1 runs every call whole on the caller, and
// lifting it gives the CPUs back.
func TestSetWorkers(t *testing.T) {
	all := Workers()
	defer SetWorkers(0)
	SetWorkers(1)
	if Workers() != 1 {
		t.Fatalf("Workers() = %d after SetWorkers(1)", Workers())
	}
	calls := 0
	Parallel(100, func(w, lo, hi int) {
		calls++ // one goroutine only, or the race detector says so
		if w != 0 || lo != 0 || hi != 100 {
			t.Errorf("worker %d got [%d, %d), want 0 with [0, 100)", w, lo, hi)
		}
	})
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
	SetWorkers(0)
	if Workers() != all {
		t.Errorf("Workers() = %d after SetWorkers(0), want %d", Workers(), all)
	}
}

// TestParallelStress makes many short calls, some nested, some from
// several goroutines at once, some after pauses long enough for the
// helpers to sleep: none may be lost or hang.
func TestParallelStress(t *testing.T) {
	if Workers() < 2 {
		t.Skip("one CPU: Parallel runs everything on the caller")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 3000 {
					var total atomic.Int64
					n := 1 + (i*7+g)%9
					Parallel(n, func(_, lo, hi int) {
						if i%5 == 0 {
							Parallel(hi-lo, func(_, a, b int) { total.Add(int64(b - a)) })
						} else {
							total.Add(int64(hi - lo))
						}
					})
					if total.Load() != int64(n) {
						t.Errorf("call %d: covered %d of %d", i, total.Load(), n)
						return
					}
					switch {
					case i%500 == 0:
						time.Sleep(2 * spinFor)
					case i%100 == 0:
						runtime.GC()
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Parallel hung")
	}
}
