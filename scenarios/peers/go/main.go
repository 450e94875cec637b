// Command go_peer is the Go peer of the Switchyard suite: the Go runtime's goroutines,
// scheduler and channels measured on the same scenarios as the fiber runtime's variants.
// The harness runs it as a child process (see README.md for the protocol):
//
//	go_peer --scenario NAME [--param key=value]... [--repetitions N]
//	go_peer --scenario http --listen 127.0.0.1:0 [--param carriers=N]
//	go_peer --list
//	go_peer --scenario NAME [--param key=value]... --check
//
// It prints exactly one JSON object on stdout: {"status": "ok", "metrics": {...},
// "peak_rss_kib": N, "notes": [...], "params": {...}} or {"status": "skipped"|"failed",
// "reason": "..."}. A bad command line prints a message on stderr and exits with code 2.
// --list gives each scenario's defaults as resolved on this machine ("params"), their
// ranges ("spec") and notes on defaults derived from the machine; a default that its own
// validation rejects makes --list exit 2. --check validates the parameters without
// running anything: {"status": "valid", "params": {...}, "notes": [...]}. The command line
// follows Go's flag package: -h or --help prints the usage on stdout and exits 0.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// usageError is a bad command line: stderr and exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// skippedError: the scenario does not apply to this peer or these parameters.
type skippedError struct{ msg string }

func (e skippedError) Error() string { return e.msg }

// params holds the --param values. A scenario asks for each key it understands with its
// default and range; a given key that nobody asked for is an error, so a misspelt key
// never silently measures the default.
type params struct {
	given map[string]string
	used  map[string]any
	spec  map[string]any // key -> {"default", "min", "max"}, for --list
	notes []string       // defaults derived from the machine, and why
	err   error          // the first bad value
}

func newParams(given map[string]string) *params {
	return &params{given: given, used: map[string]any{}, spec: map[string]any{}}
}

func (p *params) integer(key string, def, min, max int64) int64 {
	p.spec[key] = map[string]any{"default": def, "min": min, "max": max}
	value := def
	if text, ok := p.given[key]; ok {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			p.fail(usageError{fmt.Sprintf("parameter %s=%s: not an integer", key, text)})
			return def
		}
		value = v
	}
	if value < min || value > max {
		p.fail(usageError{fmt.Sprintf("parameter %s=%d: must be in [%d, %d]", key, value, min, max)})
		return def
	}
	p.used[key] = value
	return value
}

// choice is a string parameter with a fixed set of values.
func (p *params) choice(key, def string, allowed []string) string {
	p.spec[key] = map[string]any{"default": def, "choices": allowed}
	value := def
	if text, ok := p.given[key]; ok {
		value = text
	}
	for _, a := range allowed {
		if a == value {
			p.used[key] = value
			return value
		}
	}
	p.fail(usageError{fmt.Sprintf("parameter %s=%s: must be one of %s", key, value, strings.Join(allowed, ", "))})
	return def
}

// defaultCarriers is one carrier per CPU this process may use (runtime.NumCPU reads the
// affinity mask), at most max; when the machine has more, the clamp is noted.
func (p *params) defaultCarriers(max int64) int64 {
	n := int64(runtime.NumCPU())
	if _, given := p.given["carriers"]; n > max && !given {
		p.notes = append(p.notes, fmt.Sprintf(
			"default carriers=%d (the CPUs) became %d on this machine: at most %d", n, max, max))
	}
	if n > max {
		return max
	}
	return n
}

func (p *params) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *params) check() error {
	if p.err != nil {
		return p.err
	}
	var accepted []string
	for key := range p.used {
		accepted = append(accepted, key)
	}
	sort.Strings(accepted)
	for key := range p.given {
		if _, ok := p.used[key]; !ok {
			return usageError{fmt.Sprintf("parameter %s is not used by this scenario (accepted: %s)",
				key, strings.Join(accepted, ", "))}
		}
	}
	return nil
}

// report collects what one repetition measured.
type report struct {
	metrics []metric
	notes   []string
}

type metric struct {
	name, unit string
	value      any
}

func (r *report) metric(name, unit string, value any) {
	r.metrics = append(r.metrics, metric{name, unit, value})
}
func (r *report) note(text string) { r.notes = append(r.notes, text) }

// plan is a scenario with its parameters read: a repetition, run once untimed and then
// once per sample, and notes that hold for the whole run.
type plan struct {
	repetition func(r *report) error
	notes      []string
	// serve, when set, replaces the repetitions: a server that runs until a signal and
	// then reports once (the http scenario; the load generator measures it from outside).
	serve func(r *report) error
	// finish, when set, returns notes that summarize all repetitions.
	finish func() []string
}

type scenario struct {
	name, summary string
	// prepare reads the parameters and returns the plan; nil means the suite scenario
	// is not measured by this peer, and summary says why.
	prepare func(p *params) (*plan, error)
}

var scenarios = []scenario{
	{"yield", "two goroutines handing the only P to each other with runtime.Gosched", prepareYield},
	{"spawn_join", "go statement + sync.WaitGroup join", prepareSpawnJoin},
	{"skynet", "the public skynet benchmark: fan-out 10, channels, GOMAXPROCS = carriers", prepareSkynet},
	{"channel", "unbuffered channel ping-pong between two goroutines", prepareChannel},
	{"mutex", "goroutines incrementing a counter under sync.Mutex", prepareMutex},
	{"http", "net/http Hello, World! server (run with --listen)", prepareHTTP},
	{"steal", "scaling over GOMAXPROCS: skynet and fork-join fib with a cutoff (as scenarios/steal.cpp)", prepareSteal},
	{"switch", "Go exposes no raw context switch; yield measures runtime.Gosched", nil},
}

// The suite's scenario names. Anything else is a usage error; a suite name
// this peer does not implement is reported as skipped.
var suiteScenarios = []string{"switch", "yield", "spawn_join", "skynet", "io_pingpong",
	"channel", "mutex", "timers", "steal", "http", "gc_scan"}

// options are the parts of the command line that scenarios may look at.
type options struct {
	listen string
}

var opts options

func printJSON(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_peer: encoding the result:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

// peakRSSKiB reads the resident high-water mark (VmHWM) from /proc/self/status.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					return v // kB
				}
			}
		}
	}
	return -1
}

// paramFlag collects the repeatable --param key=value.
type paramFlag map[string]string

func (p paramFlag) String() string { return "" }
func (p paramFlag) Set(v string) error {
	eq := strings.IndexByte(v, '=')
	if eq <= 0 {
		return errors.New("expected key=value")
	}
	if _, dup := p[v[:eq]]; dup {
		return errors.New(v[:eq] + " given twice")
	}
	p[v[:eq]] = v[eq+1:]
	return nil
}

// repetitionsFlag is --repetitions: a decimal integer in [1, 1000] ("2.5" is refused).
type repetitionsFlag int

func (r *repetitionsFlag) String() string { return strconv.Itoa(int(*r)) }
func (r *repetitionsFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return errors.New("expected an integer in [1, 1000]")
	}
	*r = repetitionsFlag(n)
	return nil
}

// newFlagSet declares the command line with Go's flag package (its conventions: -flag and
// --flag alike, -h/--help for the usage, any other undefined flag an error). The caller
// reports errors: the set's own output goes to a buffer nobody reads.
func newFlagSet(name *string, given paramFlag, reps *repetitionsFlag, list, check *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("go_peer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(name, "scenario", "", "the scenario to measure: one of "+strings.Join(suiteScenarios, ", "))
	fs.Var(given, "param", "a scenario parameter as `key=value`, repeatable; --list gives the keys, defaults and ranges")
	fs.Var(reps, "repetitions", "timed repetitions (`N` in [1, 1000]), one sample each; one untimed warm-up runs first")
	fs.StringVar(&opts.listen, "listen", "", "where the http scenario listens, `ADDRESS:PORT` (port 0 picks one)")
	fs.BoolVar(list, "list", false, "print the scenarios, their parameters and defaults as JSON")
	fs.BoolVar(check, "check", false, "validate --scenario and its --param values; measure nothing")
	return fs
}

// parseArgs returns flag.ErrHelp for -h/--help; any other error is a usageError.
func parseArgs(args []string) (name string, given map[string]string, reps int, list, check bool, err error) {
	params := paramFlag{}
	r := repetitionsFlag(5)
	fs := newFlagSet(&name, params, &r, &list, &check)
	if perr := fs.Parse(args); perr != nil {
		if errors.Is(perr, flag.ErrHelp) {
			return "", nil, 0, false, false, perr
		}
		return "", nil, 0, false, false, usageError{perr.Error()}
	}
	if fs.NArg() > 0 {
		return "", nil, 0, false, false, usageError{"unexpected argument " + fs.Arg(0)}
	}
	return name, params, int(r), list, check, nil
}

// printUsage writes the help to stdout (it was asked for: exit 0).
func printUsage() {
	var name string
	var r repetitionsFlag = 5
	var list, check bool
	fs := newFlagSet(&name, paramFlag{}, &r, &list, &check)
	fs.SetOutput(os.Stdout)
	fmt.Println("go_peer: measures one of the suite's scenarios with goroutines and prints one JSON object")
	fmt.Println("(the harness's peer protocol). Usage:")
	fmt.Println("  go_peer --scenario NAME [--param key=value]... [--repetitions N] [--check]")
	fmt.Println("  go_peer --scenario http --listen 127.0.0.1:0 [--param carriers=N]")
	fmt.Println("  go_peer --list")
	fs.PrintDefaults()
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	name, given, reps, list, check, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage()
		return 0
	}
	if err == nil && !list && name == "" {
		err = usageError{"--scenario NAME is required"}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_peer:", err)
		return 2
	}
	if list {
		var out []map[string]any
		for _, s := range scenarios {
			entry := map[string]any{"name": s.name, "summary": s.summary}
			if s.prepare == nil {
				entry["skipped"] = true
			} else {
				// Prepared with every default: a default that its own validation
				// rejects is a usage error here, so --list alone catches it. Other
				// errors of prepare (http without --listen) do not concern the list.
				p := newParams(map[string]string{})
				s.prepare(p)
				if perr := p.check(); perr != nil {
					fmt.Fprintf(os.Stderr, "go_peer: %s: a default is invalid on this machine: %v\n", s.name, perr)
					return 2
				}
				entry["params"] = p.used
				entry["spec"] = p.spec
				entry["notes"] = append([]string{}, p.notes...)
			}
			out = append(out, entry)
		}
		printJSON(map[string]any{"peer": "go", "scenarios": out})
		return 0
	}

	inSuite := false
	for _, n := range suiteScenarios {
		inSuite = inSuite || n == name
	}
	if !inSuite {
		fmt.Fprintf(os.Stderr, "go_peer: unknown scenario %s (valid: %s)\n", name,
			strings.Join(suiteScenarios, ", "))
		return 2
	}
	if opts.listen != "" && name != "http" {
		fmt.Fprintln(os.Stderr, "go_peer: --listen is only for the http scenario")
		return 2
	}
	var chosen *scenario
	for i := range scenarios {
		if scenarios[i].name == name {
			chosen = &scenarios[i]
		}
	}
	if chosen == nil || chosen.prepare == nil {
		reason := "the go peer has no " + name + " scenario"
		if chosen != nil {
			reason = chosen.summary
		}
		printJSON(map[string]any{"status": "skipped", "reason": reason})
		return 0
	}

	p := newParams(given)
	pl, err := chosen.prepare(p)
	if cerr := p.check(); err == nil {
		err = cerr
	}
	var ue usageError
	var se skippedError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "go_peer: %s: %v\n", name, err)
		return 2
	case errors.As(err, &se):
		printJSON(map[string]any{"status": "skipped", "reason": err.Error()})
		return 0
	case err != nil:
		printJSON(map[string]any{"status": "failed", "reason": err.Error()})
		return 1
	}
	pl.notes = append(pl.notes, p.notes...)
	if check {
		printJSON(map[string]any{"status": "valid", "params": p.used, "notes": pl.notes})
		return 0
	}

	if pl.serve != nil {
		rep := &report{}
		if err := pl.serve(rep); err != nil {
			printJSON(map[string]any{"status": "failed", "reason": err.Error()})
			return 1
		}
		printJSON(map[string]any{
			"status":       "ok",
			"metrics":      map[string]any{},
			"peak_rss_kib": peakRSSKiB(),
			"notes":        append(pl.notes, rep.notes...),
			"params":       p.used,
		})
		return 0
	}

	notes := map[string]bool{}
	for _, n := range pl.notes {
		notes[n] = true
	}
	type series struct {
		Unit    string `json:"unit"`
		Samples []any  `json:"samples"`
	}
	metrics := map[string]*series{}
	// One untimed warm-up, then the samples.
	for r := -1; r < reps; r++ {
		rep := &report{}
		if err := pl.repetition(rep); err != nil {
			printJSON(map[string]any{"status": "failed", "reason": err.Error()})
			return 1
		}
		for _, n := range rep.notes {
			notes[n] = true
		}
		if r < 0 {
			continue
		}
		for _, m := range rep.metrics {
			s := metrics[m.name]
			if s == nil {
				s = &series{Unit: m.unit}
				metrics[m.name] = s
			}
			s.Samples = append(s.Samples, m.value)
		}
	}
	if pl.finish != nil {
		for _, n := range pl.finish() {
			notes[n] = true
		}
	}
	noteList := []string{}
	for n := range notes {
		noteList = append(noteList, n)
	}
	sort.Strings(noteList)
	printJSON(map[string]any{
		"status":       "ok",
		"metrics":      metrics,
		"peak_rss_kib": peakRSSKiB(),
		"notes":        noteList,
		"params":       p.used,
	})
	return 0
}
