package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// mutex: `fibers` goroutines share `ops` increments of one counter under a sync.Mutex.
// ns_per_lock = wall time / ops (one lock, increment, unlock). The goroutines are
// started before the clock and released together.
func prepareMutex(p *params) (*plan, error) {
	carriers := p.integer("carriers", int64(runtime.NumCPU()), 1, 1024)
	goroutines := p.integer("fibers", 100, 1, 1_000_000)
	ops := p.integer("ops", 1_000_000, 1, 1_000_000_000)
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{fmt.Sprintf(
		"GOMAXPROCS=%d; %d goroutines share the increments under one sync.Mutex; ns_per_lock = wall time / ops",
		carriers, goroutines)}}
	pl.repetition = func(r *report) error {
		var mu sync.Mutex
		counter := int64(0) // guarded by mu
		startGate := make(chan struct{})
		var wg sync.WaitGroup
		for g := int64(0); g < goroutines; g++ {
			mine := ops / goroutines
			if g < ops%goroutines {
				mine++
			}
			wg.Add(1)
			go func(mine int64) {
				defer wg.Done()
				<-startGate
				for i := int64(0); i < mine; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
			}(mine)
		}
		start := time.Now()
		close(startGate)
		wg.Wait()
		elapsed := time.Since(start)
		if counter != ops {
			return fmt.Errorf("mutex counter is %d, expected %d", counter, ops)
		}
		r.metric("ns_per_lock", "ns", float64(elapsed.Nanoseconds())/float64(ops))
		return nil
	}
	return pl, nil
}
