package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// yield: two goroutines on one P, each calling runtime.Gosched in a loop. Gosched puts
// the caller on the global run queue and runs the next goroutine, which with only these
// two runnable is normally the other one. ns_per_yield is wall time / Gosched calls.
//
// Go's scheduler does not alternate strictly: every 61st schedule() takes from the
// global run queue first (its fairness check), where the caller itself may sit right
// behind the other goroutine, so about 2 turns in 61 run the same goroutine twice. The
// untimed warm-up measures that share with atomics (the timed loop carries no check, so
// the check costs it nothing) and fails the run if the two do not mostly alternate.
func prepareYield(p *params) (*plan, error) {
	p.integer("carriers", 1, 1, 1) // GOMAXPROCS=1: alternation needs a single P
	handoffs := p.integer("ops", 2_000_000, 2, 1_000_000_000) / 2 * 2
	runtime.GOMAXPROCS(1)
	pl := &plan{notes: []string{
		"GOMAXPROCS=1; two goroutines alternate via runtime.Gosched; ns_per_yield = wall time / Gosched calls",
	}}
	rounds := handoffs / 2
	warmedUp := false
	pl.repetition = func(r *report) error {
		if !warmedUp { // the driver's untimed warm-up
			warmedUp = true
			repeats := checkAlternation(rounds)
			if repeats > handoffs/10 {
				return fmt.Errorf("the goroutines did not alternate: %d of %d turns repeated", repeats, handoffs)
			}
			r.note(fmt.Sprintf("checked in the warm-up: %.1f%% of Gosched calls resumed the caller instead of the other goroutine",
				100*float64(repeats)/float64(handoffs)))
		}
		var wg sync.WaitGroup
		wg.Add(2)
		side := func() {
			defer wg.Done()
			for i := int64(0); i < rounds; i++ {
				runtime.Gosched()
			}
		}
		start := time.Now()
		go side()
		go side()
		wg.Wait()
		r.metric("ns_per_yield", "ns", float64(time.Since(start).Nanoseconds())/float64(handoffs))
		return nil
	}
	return pl, nil
}

// checkAlternation runs the yield loop with each goroutine noting whether it also ran
// the turn before, and returns how many turns did.
func checkAlternation(rounds int64) int64 {
	// last: who ran most recently. Atomic (sequentially consistent in Go) so that the
	// check is race-free without relying on the scheduler's internal locks.
	var last atomic.Int32
	last.Store(-1)
	var repeats [2]int64 // each written by its own goroutine, read after wg.Wait
	var wg sync.WaitGroup
	wg.Add(2)
	side := func(me int32) {
		defer wg.Done()
		for i := int64(0); i < rounds; i++ {
			if last.Swap(me) == me {
				repeats[me]++
			}
			runtime.Gosched()
		}
	}
	go side(0)
	go side(1)
	wg.Wait()
	return repeats[0] + repeats[1]
}

// spawn_join: start a goroutine with the go statement and wait for it with a
// sync.WaitGroup, one at a time.
func prepareSpawnJoin(p *params) (*plan, error) {
	carriers := p.integer("carriers", 1, 1, 1024)
	ops := p.integer("ops", 1_000_000, 1, 1_000_000_000)
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{fmt.Sprintf(
		"GOMAXPROCS=%d; go func(){ wg.Done() }() then wg.Wait(), one at a time", carriers)}}
	pl.repetition = func(r *report) error {
		var wg sync.WaitGroup
		start := time.Now()
		for i := int64(0); i < ops; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
		r.metric("ns_per_spawn_join", "ns", float64(time.Since(start).Nanoseconds())/float64(ops))
		return nil
	}
	return pl, nil
}
