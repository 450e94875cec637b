package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// skynet: the public benchmark (github.com/atemerev/skynet) as its Go version is
// written: every goroutine with more than one leaf below it starts ten children, each
// sends its sum on the parent's unbuffered channel, the parent adds them up.
func skynet(c chan<- int64, num, size, div int64) {
	if size == 1 {
		if num%1024 == 0 {
			sampleLive()
		}
		c <- num
		return
	}
	rc := make(chan int64)
	var sum int64
	for i := int64(0); i < div; i++ {
		subNum := num + i*(size/div)
		go skynet(rc, subNum, size/div, div)
	}
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// livePeak is the highest runtime.NumGoroutine() seen by the sampling leaves, minus the
// main goroutine. Leaves 0, 1024, 2048, ... sample it, spread over the whole run and at
// least one even in a tiny tree, about a thousand times per million leaves, so the
// sampling costs nothing measurable and needs no extra goroutine.
var livePeak atomic.Int64

func sampleLive() {
	n := int64(runtime.NumGoroutine()) - 1
	// Sequentially consistent atomics (all sync/atomic operations are); read after the
	// root's result arrives, which every sampling leaf happens before.
	for {
		old := livePeak.Load()
		if n <= old || livePeak.CompareAndSwap(old, n) {
			return
		}
	}
}

// timedSkynet runs one tree of `leaves` leaves and checks its sum (the skynet and steal
// scenarios' repetition).
func timedSkynet(leaves int64) (time.Duration, error) {
	c := make(chan int64)
	start := time.Now()
	go skynet(c, 0, leaves, 10)
	result := <-c
	elapsed := time.Since(start)
	if want := leaves * (leaves - 1) / 2; result != want {
		return 0, fmt.Errorf("skynet result %d, expected %d", result, want)
	}
	return elapsed, nil
}

func prepareSkynet(p *params) (*plan, error) {
	carriers := p.integer("carriers", p.defaultCarriers(1024), 1, 1024)
	leaves := p.integer("fibers", 1_000_000, 1, 100_000_000)
	power := int64(1)
	for power < leaves {
		power *= 10
	}
	if power != leaves {
		return nil, usageError{fmt.Sprintf("fibers=%d: must be a power of 10", leaves)}
	}
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{
		fmt.Sprintf("GOMAXPROCS=%d, default GOGC; fan-out 10 over unbuffered channels", carriers),
		"peak_live_fibers: runtime.NumGoroutine() minus main, sampled by every 1024th leaf (a close lower bound)",
	}}
	pl.repetition = func(r *report) error {
		livePeak.Store(0)
		elapsed, err := timedSkynet(leaves)
		if err != nil {
			return err
		}
		r.metric("time_s", "s", elapsed.Seconds())
		r.metric("peak_live_fibers", "count", livePeak.Load())
		return nil
	}
	return pl, nil
}
