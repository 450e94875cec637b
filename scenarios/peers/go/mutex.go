package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// The generator the critical and non-critical sections step (Knuth's MMIX LCG, mod 2^64),
// the same constants as scenarios/mutex.cpp and the threads peer.
const lcgA, lcgC = uint64(6364136223846793005), uint64(1442695040888963407)

// lcgSkip returns x after n steps, in O(log n) (composing the affine map by squaring).
func lcgSkip(x, n uint64) uint64 {
	accA, accC, a, c := uint64(1), uint64(0), lcgA, lcgC
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			accA *= a
			accC = accC*a + c
		}
		c = (a + 1) * c
		a *= a
	}
	return accA*x + accC
}

// mutex: `fibers` goroutines share `ops` iterations of: Lock; `inside` steps of a shared
// LCG; Unlock; `outside` steps of a private LCG (the non-critical section), as the suite's
// mutex scenario does. ns_per_lock = wall time / ops; time_s = wall time. The goroutines
// are started before the clock and released together. The shared state after ops x inside
// steps is known whatever the order, so a lost update is caught.
func prepareMutex(p *params) (*plan, error) {
	carriers := p.integer("carriers", p.defaultCarriers(1024), 1, 1024)
	goroutines := p.integer("fibers", 100, 1, 1_000_000)
	ops := p.integer("ops", 1_000_000, 1, 1_000_000_000)
	inside := p.integer("inside", 4, 0, 1000)
	outside := p.integer("outside", 16, 0, 100_000)
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{fmt.Sprintf(
		"GOMAXPROCS=%d; %d goroutines share ops iterations of: sync.Mutex Lock, %d steps of a shared LCG, "+
			"Unlock, %d steps of a private LCG; ns_per_lock = wall time / ops, time_s = wall time",
		carriers, goroutines, inside, outside)}}
	pl.repetition = func(r *report) error {
		var mu sync.Mutex
		counter := int64(0) // guarded by mu
		shared := uint64(1) // guarded by mu
		sinks := make([]uint64, goroutines)
		startGate := make(chan struct{})
		var wg sync.WaitGroup
		for g := int64(0); g < goroutines; g++ {
			mine := ops / goroutines
			if g < ops%goroutines {
				mine++
			}
			wg.Add(1)
			go func(g, mine int64) {
				defer wg.Done()
				<-startGate
				local := uint64(g) + 1
				for i := int64(0); i < mine; i++ {
					mu.Lock()
					counter++
					for k := int64(0); k < inside; k++ {
						shared = shared*lcgA + lcgC
					}
					mu.Unlock()
					for k := int64(0); k < outside; k++ {
						local = local*lcgA + lcgC
					}
				}
				sinks[g] = local
			}(g, mine)
		}
		start := time.Now()
		close(startGate)
		wg.Wait()
		elapsed := time.Since(start)
		if counter != ops {
			return fmt.Errorf("mutex counter is %d, expected %d", counter, ops)
		}
		if want := lcgSkip(1, uint64(ops*inside)); shared != want {
			return fmt.Errorf("mutex shared state %d, expected %d (a lost update)", shared, want)
		}
		r.metric("ns_per_lock", "ns", float64(elapsed.Nanoseconds())/float64(ops))
		r.metric("time_s", "s", elapsed.Seconds())
		return nil
	}
	return pl, nil
}
