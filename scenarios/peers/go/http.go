package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

var helloBody = []byte("Hello, World!")

// prepareHTTP: a net/http server as Go users write it. "/" answers "Hello, World!"
// (text/plain, 13 bytes); "/sleep?ms=N" sleeps N milliseconds first (a handler that
// blocks, to show what parking a goroutine costs); everything else is 404. It listens on
// --listen, prints "LISTENING <port>" on stdout, serves until SIGTERM or SIGINT, then
// shuts down gracefully and prints its JSON result (peak RSS, requests served).
func prepareHTTP(p *params) (*plan, error) {
	carriers := p.integer("carriers", p.defaultCarriers(1024), 1, 1024)
	if opts.listen == "" {
		return nil, usageError{"the http scenario needs --listen ADDRESS:PORT (port 0 picks one)"}
	}
	runtime.GOMAXPROCS(int(carriers))
	pl := &plan{notes: []string{fmt.Sprintf(
		"GOMAXPROCS=%d; net/http server, keep-alive on, default settings; repetitions do not apply", carriers)}}
	pl.serve = func(r *report) error {
		var served atomic.Int64
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != "/" {
				http.NotFound(w, req)
				return
			}
			served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "13")
			w.Write(helloBody)
		})
		mux.HandleFunc("/sleep", func(w http.ResponseWriter, req *http.Request) {
			ms, err := strconv.Atoi(req.URL.Query().Get("ms"))
			if err != nil || ms < 0 || ms > 600_000 {
				http.Error(w, "ms must be an integer in [0, 600000]", http.StatusBadRequest)
				return
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
			served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "13")
			w.Write(helloBody)
		})

		listener, err := net.Listen("tcp", opts.listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", opts.listen, err)
		}
		// Registered before LISTENING is printed, so a signal sent as soon as the
		// harness reads the port is never lost to the default action.
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		server := &http.Server{Handler: mux}
		serveErr := make(chan error, 1)
		go func() { serveErr <- server.Serve(listener) }()
		fmt.Printf("LISTENING %d\n", listener.Addr().(*net.TCPAddr).Port)

		select {
		case sig := <-signals:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := server.Shutdown(ctx); err != nil {
				// Connections still busy after 5 s (for example long /sleep requests)
				// are closed; the run itself is over, so this is only a note.
				server.Close()
				r.note("shutdown: " + err.Error() + "; remaining connections closed")
			}
			r.note(fmt.Sprintf("stopped by %v after %d requests", sig, served.Load()))
			return nil
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		}
	}
	return pl, nil
}
