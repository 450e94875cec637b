package main

import (
	"fmt"
	"runtime"
	"time"
)

// steal: how a workload scales with GOMAXPROCS, beside the steal scenario's variants
// (scenarios/steal.cpp). Its two workloads, with the same parameters and result checks:
//
//	skynet  the tree of the skynet scenario (skynet.go: fan-out 10 over channels).
//	fib     fine-grained fork-join: fib(n) starts a goroutine for fib(n-1), computes
//	        fib(n-2) itself and waits for the goroutine's result; below cutoff it recurses
//	        sequentially, so each goroutine's own work is small and the scheduler dominates.
//
// One time_s per repetition; the speedup is time(GOMAXPROCS=1) / time(N), as for ours.

// fibSeq is one real call per node, like the C++ fib_seq (noinline there too), so the
// amount of work does not depend on what the compiler sees through.
//
//go:noinline
func fibSeq(n int) uint64 {
	if n < 2 {
		return uint64(n)
	}
	return fibSeq(n-1) + fibSeq(n-2)
}

func fibPar(n, cutoff int) uint64 {
	if n < cutoff {
		return fibSeq(n)
	}
	// Buffered: the child sends its result and ends without waiting for the join, as a
	// fiber's result is kept for its join.
	child := make(chan uint64, 1)
	go func() { child <- fibPar(n-1, cutoff) }()
	b := fibPar(n-2, cutoff)
	return <-child + b
}

// fibExpected is fib(n) by iteration, to check the parallel sum.
func fibExpected(n int) uint64 {
	var a, b uint64 = 0, 1
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

// fibGoroutines is the goroutines fibPar(n) starts: one per call with n >= cutoff,
// F(k) = 1 + F(k-1) + F(k-2) for k >= cutoff and 0 below (steal.cpp's fib_fibers).
func fibGoroutines(n, cutoff int) int64 {
	var prev2, prev1 int64
	for k := 0; k <= n; k++ {
		f := int64(0)
		if k >= cutoff {
			f = 1 + prev1 + prev2
		}
		prev2, prev1 = prev1, f
	}
	return prev1
}

func prepareSteal(p *params) (*plan, error) {
	workload := p.choice("workload", "fib", []string{"skynet", "fib"})
	carriers := p.integer("carriers", 1, 1, 64)
	leaves := p.integer("fibers", 1_000_000, 1, 100_000_000)
	n := int(p.integer("fib_n", 32, 1, 45))
	cutoff := int(p.integer("cutoff", 12, 2, 45))
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{
		fmt.Sprintf("GOMAXPROCS=%d (carriers), default GOGC", carriers),
		"time_s: the work from its first goroutine to the root's result; speedup = time at " +
			"GOMAXPROCS=1 / time at N, medians from one run",
	}}
	if workload == "skynet" {
		power := int64(1)
		for power < leaves {
			power *= 10
		}
		if power != leaves {
			return nil, usageError{fmt.Sprintf("parameter fibers=%d: must be a power of 10", leaves)}
		}
		pl.notes = append(pl.notes, fmt.Sprintf(
			"workload skynet: %d leaves, fan-out 10 over unbuffered channels (as the skynet scenario)", leaves))
		pl.repetition = func(r *report) error {
			elapsed, err := timedSkynet(leaves)
			if err != nil {
				return err
			}
			r.metric("time_s", "s", elapsed.Seconds())
			return nil
		}
		return pl, nil
	}
	pl.notes = append(pl.notes, fmt.Sprintf(
		"workload fib: fib(%d), a goroutine per call with n >= %d (%d goroutines) joined by a "+
			"1-slot channel, sequential below", n, cutoff, fibGoroutines(n, cutoff)))
	pl.repetition = func(r *report) error {
		start := time.Now()
		result := fibPar(n, cutoff)
		elapsed := time.Since(start)
		if want := fibExpected(n); result != want {
			return fmt.Errorf("fib(%d) = %d, expected %d", n, result, want)
		}
		r.metric("time_s", "s", elapsed.Seconds())
		return nil
	}
	return pl, nil
}
