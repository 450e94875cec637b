package main

import (
	"fmt"
	"runtime"
	"time"
)

// channel: ping-pong over two unbuffered channels between the main goroutine and an
// echo goroutine. One round trip is two hand-offs; ns_per_handoff = wall time /
// (2 x round trips).
func prepareChannel(p *params) (*plan, error) {
	carriers := p.integer("carriers", 1, 1, 1024)
	handoffs := p.integer("ops", 1_000_000, 2, 1_000_000_000) / 2 * 2
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{fmt.Sprintf(
		"GOMAXPROCS=%d; unbuffered chan int ping and pong; ns_per_handoff = wall time / (2 x round trips)", carriers)}}
	pl.repetition = func(r *report) error {
		rounds := handoffs / 2
		ping, pong := make(chan int64), make(chan int64)
		echoed := make(chan int64)
		go func() {
			n := int64(0)
			for v := range ping {
				n++
				pong <- v + 1
			}
			echoed <- n
		}()
		v := int64(0)
		start := time.Now()
		for i := int64(0); i < rounds; i++ {
			ping <- v
			v = <-pong
		}
		elapsed := time.Since(start)
		close(ping)
		if n := <-echoed; n != rounds || v != rounds {
			return fmt.Errorf("channel ping-pong: %d echoes, value %d, expected %d", n, v, rounds)
		}
		r.metric("ns_per_handoff", "ns", float64(elapsed.Nanoseconds())/float64(handoffs))
		return nil
	}
	return pl, nil
}
