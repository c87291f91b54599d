// Package par splits loops across the machine's cores without allocating per
// call, so that kernels run from a compiled plan stay allocation-free.
package par

import (
	"runtime"
	"sync"
)

type task struct {
	body   func(lo, hi int)
	lo, hi int
}

type workers struct {
	start sync.Once
	busy  sync.Mutex // one For at a time; a nested or concurrent For runs serially
	jobs  chan task
	done  sync.WaitGroup
	n     int
}

var pool workers

func (w *workers) run() {
	for t := range w.jobs {
		t.body(t.lo, t.hi)
		w.done.Done()
	}
}

func (w *workers) init() {
	w.start.Do(func() {
		w.n = runtime.GOMAXPROCS(0)
		w.jobs = make(chan task, w.n)
		for range w.n - 1 {
			go w.run()
		}
	})
}

// Workers is the number of goroutines For runs on at most.
func Workers() int {
	pool.init()
	return pool.n
}

// For calls body on contiguous ranges that cover [0, n), each at least grain
// long, on up to GOMAXPROCS goroutines, and returns when all have finished.
// body must be safe to run concurrently on disjoint ranges.
func For(n, grain int, body func(lo, hi int)) {
	pool.init()
	k := pool.n
	if grain > 0 && n/grain < k {
		k = n / grain
	}
	if k <= 1 || !pool.busy.TryLock() {
		body(0, n)
		return
	}
	defer pool.busy.Unlock()
	pool.done.Add(k - 1)
	for i := 1; i < k; i++ {
		pool.jobs <- task{body, i * n / k, (i + 1) * n / k}
	}
	body(0, n/k)
	pool.done.Wait()
}
