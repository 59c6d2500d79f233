// Command dispatch is part 1 of `make bench`: it loads the plugin server's
// Dispatch through real gRPC and compares it with a bare echo server.
//
// It builds and starts, as separate processes on 127.0.0.1: a throwaway
// redis-server, the real plugin-server binary (info-level JSON log to a file,
// journal to that Redis), and bench/bareecho (the same generated Dispatcher
// returning the request, nothing else). A light in-process load generator
// (the generated client, one connection as the gateway keeps, N goroutines)
// then runs fixed-length rounds against each, alternating bare and lab, for
// each payload (bench/payload) and concurrency, and prints medians.
//
// The last line is machine-readable:
//
//	BENCH dispatch_vs_bare small=<ratio> large=<ratio>
//
// with the throughput ratio lab/bare at concurrency 16.
//
//	go run ./plugin-server/internal/devtools/bench/dispatch [-duration 1s] [-rounds 8] [-concurrency 1,16,64] [-quick]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/load"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/payload"
)

// Targets from the issue, checked at every concurrency.
const (
	minThroughputRatio = 0.8
	maxP99Ratio        = 1.5
	// machineConcurrency is the concurrency of the BENCH line.
	machineConcurrency = 16
)

type options struct {
	duration, warmup time.Duration
	rounds           int
	concurrency      []int
	payloads         []string
	workDir          string
	keep             bool
	labEnv           []string
	traced           bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dispatch:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	conc := flag.String("concurrency", "1,16,64", "comma-separated concurrencies")
	pl := flag.String("payloads", strings.Join(payload.Names(), ","), "comma-separated payloads")
	// Many short rounds: on a shared machine the speed drifts within
	// seconds, and a bare round and a lab round side by side see the same
	// conditions more often when they are short.
	flag.DurationVar(&o.duration, "duration", time.Second, "measured time per round")
	flag.DurationVar(&o.warmup, "warmup", 250*time.Millisecond, "unmeasured time before each round")
	flag.IntVar(&o.rounds, "rounds", 8, "rounds per server, alternating bare and lab")
	flag.StringVar(&o.workDir, "workdir", "", "where binaries and logs go (default: a temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs) afterwards")
	flag.Func("lab-env", "extra KEY=VALUE for the plugin server, repeatable (for experiments: the figures are then not the lab's)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.labEnv = append(o.labEnv, v)
		return nil
	})
	flag.BoolVar(&o.traced, "traced", true, "also measure the plugin server with tracing on (spans over OTLP to a sink in this process)")
	quick := flag.Bool("quick", false, "one round each (about 30 s in all)")
	flag.Parse()
	if *quick {
		o.duration, o.warmup, o.rounds = time.Second, 200*time.Millisecond, 1
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("bad -concurrency %q", *conc)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for _, s := range strings.Split(*pl, ",") {
		if _, err := payload.ByName(strings.TrimSpace(s)); err != nil {
			return o, err
		}
		o.payloads = append(o.payloads, strings.TrimSpace(s))
	}
	if o.rounds < 1 || o.duration <= 0 || o.warmup < 0 {
		return o, errors.New("-rounds must be >= 1 and -duration > 0")
	}
	return o, nil
}

func run(ctx context.Context) error {
	opts, err := parseFlags()
	if err != nil {
		return err
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("redis-server is not on PATH: part 1 runs the plugin server with its journal to a local Redis " +
			"(Debian/Ubuntu: apt-get install redis-server); stopping")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work := opts.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "bench-dispatch-"); err != nil {
			return err
		}
		if !opts.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	printMachine()
	fmt.Printf("\nbuilding plugin-server and bench/bareecho ...\n")
	if err := goBuild(ctx, root, work, "./plugin-server", "./plugin-server/internal/devtools/bench/bareecho"); err != nil {
		return err
	}

	var procs processes
	defer func() { procs.stopAll() }()

	redisPort, err := freePort()
	if err != nil {
		return err
	}
	rds, err := procs.start(ctx, "redis-server", filepath.Join(work, "redis.log"), nil, redisBin,
		"--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work)
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(redisPort)), rds); err != nil {
		return err
	}

	labAddr, bareAddr, err := twoFreeAddrs()
	if err != nil {
		return err
	}
	labLog := filepath.Join(work, "plugin-server.log")
	env := append(cleanEnv(),
		"PLUGIN_LISTEN_ADDR="+labAddr,
		"PLUGIN_LOG_LEVEL=info",
		"PLUGIN_JOURNAL_REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(redisPort)+"/1",
		"PLUGIN_CORRELATION_HEADER=X-Request-Id",
	)
	env = append(env, opts.labEnv...)
	if len(opts.labEnv) > 0 {
		fmt.Printf("EXPERIMENT: plugin server with %s\n", strings.Join(opts.labEnv, " "))
	}
	lab, err := procs.start(ctx, "plugin-server", labLog, env, filepath.Join(work, "plugin-server"))
	if err != nil {
		return err
	}
	bare, err := procs.start(ctx, "bareecho", filepath.Join(work, "bareecho.log"), cleanEnv(),
		filepath.Join(work, "bareecho"), "-listen", bareAddr)
	if err != nil {
		return err
	}
	// The same plugin server with tracing on: its spans go over OTLP to a
	// sink in this process, its journal to a stream of its own.
	var traced *process
	var tracedAddr, tracedLog string
	var sink *otlpSink
	if opts.traced {
		if sink, err = startOTLPSink(); err != nil {
			return err
		}
		defer sink.stop()
		if tracedAddr, _, err = twoFreeAddrs(); err != nil {
			return err
		}
		tracedLog = filepath.Join(work, "plugin-server-traced.log")
		tenv := append(slices.Clone(env), "PLUGIN_LISTEN_ADDR="+tracedAddr,
			"PLUGIN_JOURNAL_STREAM=plugin-lab:journal-traced",
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+sink.addr)
		if traced, err = procs.start(ctx, "plugin-server-traced", tracedLog, tenv, filepath.Join(work, "plugin-server")); err != nil {
			return err
		}
	}

	objs := map[string]*coprocess.Object{}
	for _, name := range opts.payloads {
		o, err := payload.ByName(name)
		if err != nil {
			return err
		}
		objs[name] = o
	}
	targets := []*target{
		{name: "bare", proc: bare, addr: bareAddr},
		{name: "lab", proc: lab, addr: labAddr, extra: []*process{rds}},
	}
	if traced != nil {
		targets = append(targets, &target{name: "traced", proc: traced, addr: tracedAddr, extra: []*process{rds}})
	}
	for _, t := range targets {
		if err := t.connect(ctx, objs); err != nil {
			return err
		}
		defer t.conn.Close()
	}
	fmt.Printf("servers: lab = plugin-server %s (info log to a file, journal to redis-server 127.0.0.1:%d)\n", labAddr, redisPort)
	fmt.Printf("         bare = bench/bareecho %s\n", bareAddr)
	if traced != nil {
		fmt.Printf("         traced = plugin-server %s as lab, with tracing on (OTLP/gRPC to a span sink at %s)\n", tracedAddr, sink.addr)
	}
	fmt.Println("every call carries a W3C traceparent, as the gateway's does with its OpenTelemetry on")
	for _, name := range opts.payloads {
		fmt.Printf("payload %-5s: %s, %d bytes as protobuf\n", name, describe(objs[name]), proto.Size(objs[name]))
	}
	n := len(opts.payloads) * len(opts.concurrency) * opts.rounds * len(targets)
	fmt.Printf("rounds: %d × (%v warm-up + %v measured), taking the servers in turn; about %v\n\n",
		n, opts.warmup, opts.duration, (time.Duration(n) * (opts.warmup + opts.duration)).Round(time.Second))

	results, err := measure(ctx, opts, targets, objs)
	if err != nil {
		return err
	}
	loadAfter := load.LoadAvg()

	// Stop the plugin server gracefully: the journal flushes and logs its
	// counters, which say whether every dispatch reached Redis.
	jst, logLines, err := stopLab(lab, labLog)
	if err != nil {
		return err
	}
	xadd := redisXAddStats(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(redisPort)))
	report(opts, results, targets[1].served.Load(), logLines, jst, xadd, loadAfter)
	if traced != nil {
		tjst, tlines, err := stopLab(traced, tracedLog)
		if err != nil {
			return err
		}
		reportTraced(opts, results, targets[2].served.Load(), tlines, tjst, sink.spans.Load())
	}
	return nil
}

// measure runs every round and returns the results by payload, concurrency
// and server.
func measure(ctx context.Context, opts options, targets []*target, objs map[string]*coprocess.Object) (map[key][]roundResult, error) {
	results := map[key][]roundResult{}
	for _, name := range opts.payloads {
		for _, c := range opts.concurrency {
			for r := 0; r < opts.rounds; r++ {
				// Each server first in turn.
				order := append(slices.Clone(targets[r%len(targets):]), targets[:r%len(targets)]...)
				for _, t := range order {
					rr, err := t.round(ctx, objs[name], c, opts.warmup, opts.duration)
					if err != nil {
						return nil, err
					}
					k := key{name, c, t.name}
					results[k] = append(results[k], rr)
					fmt.Printf("  %-5s c=%-3d %-4s round %d: %8.0f disp/s  p50 %7s  p99 %7s  cpu/disp %5.1fµs",
						name, c, t.name, r+1, rr.res.Throughput(),
						load.FormatDuration(rr.res.P50()), load.FormatDuration(rr.res.P99()), rr.cpuPerCall())
					if len(t.extra) > 0 {
						fmt.Printf(" + redis %4.1fµs", rr.extraPerCall())
					}
					fmt.Println()
				}
			}
		}
	}
	return results, nil
}

type key struct {
	payload     string
	concurrency int
	server      string
}

type roundResult struct {
	res *load.Result
	// cpu is the CPU time the server process used during the round,
	// warm-up included, extraCPU that of the lab's redis-server; calls is
	// the number of dispatches served meanwhile.
	cpu, extraCPU time.Duration
	calls         uint64
}

func perCall(d time.Duration, calls uint64) float64 {
	if calls == 0 || d < 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(calls)
}

func (r roundResult) cpuPerCall() float64   { return perCall(r.cpu, r.calls) }
func (r roundResult) extraPerCall() float64 { return perCall(r.extraCPU, r.calls) }

func report(opts options, results map[key][]roundResult, served, logLines uint64, jst journalStats, xadd, loadAfter string) {
	fmt.Printf("\nResults: medians of %d round(s); ratio = median of the per-round lab/bare ratios.\n", opts.rounds)
	fmt.Printf("Targets (each payload, each concurrency): throughput >= %.1f× bare, p99 <= %.1f× bare.\n\n", minThroughputRatio, maxP99Ratio)
	fmt.Printf("%-7s %4s | %8s %7s %7s %7s | %8s %7s %7s %7s %7s | %5s %5s  %s\n",
		"payload", "conc", "bare/s", "p50", "p99", "cpu", "lab/s", "p50", "p99", "cpu", "+redis", "tput×", "p99×", "target")
	machine := map[string]float64{}
	allMet := true
	for _, name := range opts.payloads {
		for _, c := range opts.concurrency {
			b, l := results[key{name, c, "bare"}], results[key{name, c, "lab"}]
			tRatio, pRatio := ratio(l, b, tput), ratio(l, b, p99)
			met := tRatio >= minThroughputRatio && pRatio <= maxP99Ratio
			allMet = allMet && met
			verdict := "met"
			if !met {
				verdict = "MISSED"
			}
			fmt.Printf("%-7s %4d | %8.0f %7s %7s %7s | %8.0f %7s %7s %7s %7s | %5.2f %5.2f  %s\n",
				name, c,
				medianOf(b, tput), durOf(b, p50), durOf(b, p99), cpuOf(b, roundResult.cpuPerCall),
				medianOf(l, tput), durOf(l, p50), durOf(l, p99), cpuOf(l, roundResult.cpuPerCall), cpuOf(l, roundResult.extraPerCall),
				tRatio, pRatio, verdict)
			if c == machineConcurrency {
				machine[name] = tRatio
			}
		}
	}
	fmt.Println("\ncpu: CPU time of the server process per dispatch (+redis: the lab's redis-server), warm-up included;")
	fmt.Println("p50/p99 and cpu are medians over rounds.")
	fmt.Printf("load average after the run: %s\n", loadAfter)
	fmt.Printf("lab: %d dispatches served; %d info log lines; journal written %d, dropped %d, failed %d\n",
		served, logLines, jst.Written, jst.Dropped, jst.Failed)
	switch {
	case !jst.seen:
		fmt.Println("WARNING: the plugin server did not log its journal counters on shutdown")
	case logLines != served || jst.Written != served:
		fmt.Println("WARNING: not every dispatch was logged and journaled: the lab's figures leave out part of that cost")
	default:
		fmt.Println("every lab dispatch was logged and journaled")
	}
	if xadd != "" {
		fmt.Println("redis-server:", xadd)
	}
	if allMet {
		fmt.Println("all targets met")
	} else {
		fmt.Println("some targets MISSED")
	}
	var parts []string
	for _, name := range opts.payloads {
		if r, ok := machine[name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.2f", name, r))
		} else {
			parts = append(parts, name+"=NA")
		}
	}
	fmt.Printf("BENCH dispatch_vs_bare %s\n", strings.Join(parts, " "))
}

func tput(r roundResult) float64 { return r.res.Throughput() }
func p50(r roundResult) float64  { return float64(r.res.P50()) }
func p99(r roundResult) float64  { return float64(r.res.P99()) }

// ratio is the median over rounds of f of a server's round over f of the
// bare echo's round beside it.
func ratio(x, bare []roundResult, f func(roundResult) float64) float64 {
	var rs []float64
	for i := range bare {
		rs = append(rs, f(x[i])/f(bare[i]))
	}
	return load.Median(rs)
}

func medianOf(rs []roundResult, f func(roundResult) float64) float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	return load.Median(xs)
}

func durOf(rs []roundResult, f func(roundResult) float64) string {
	return load.FormatDuration(time.Duration(medianOf(rs, f)))
}

func cpuOf(rs []roundResult, f func(roundResult) float64) string {
	v := medianOf(rs, f)
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", v)
}

// target is one server under test.
type target struct {
	name   string
	proc   *process
	addr   string
	conn   *grpc.ClientConn
	client coprocess.DispatcherClient
	// extra are processes whose CPU counts with this one's (the lab's
	// redis-server).
	extra  []*process
	served atomic.Uint64
}

func (t *target) connect(ctx context.Context, objs map[string]*coprocess.Object) error {
	conn, err := grpc.NewClient(t.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	t.conn, t.client = conn, coprocess.NewDispatcherClient(conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = t.client.Dispatch(cctx, &coprocess.Object{HookType: coprocess.HookType_Pre, HookName: "ready"})
		cancel()
		if err == nil {
			t.served.Add(1)
			break
		}
		if t.proc.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s on %s did not answer: %v\n%s", t.name, t.addr, err, t.proc.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Both servers must echo each payload exactly.
	for name, o := range objs {
		got, err := t.client.Dispatch(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: dispatch %s: %w", t.name, name, err)
		}
		t.served.Add(1)
		if !proto.Equal(got, o) {
			return fmt.Errorf("%s did not echo the %s payload unchanged", t.name, name)
		}
	}
	return nil
}

func (t *target) round(ctx context.Context, obj *coprocess.Object, concurrency int, warmup, window time.Duration) (roundResult, error) {
	cpu0, extra0 := t.proc.cpu(), t.extraCPU()
	n0 := t.served.Load()
	res := load.Run(ctx, concurrency, warmup, window, func(ctx context.Context) error {
		_, err := t.client.Dispatch(metadata.NewOutgoingContext(ctx, traceparent), obj)
		if err == nil {
			t.served.Add(1)
		}
		return err
	})
	if ctx.Err() != nil {
		return roundResult{}, ctx.Err()
	}
	if res.Errors > 0 || res.Calls == 0 {
		return roundResult{}, fmt.Errorf("%s: %d calls failed (first: %v)\n%s", t.name, res.Errors, res.FirstError, t.proc.tail())
	}
	rr := roundResult{res: res, cpu: t.proc.cpu() - cpu0, extraCPU: t.extraCPU() - extra0, calls: t.served.Load() - n0}
	if cpu0 < 0 {
		rr.cpu = -1
	}
	if extra0 < 0 {
		rr.extraCPU = -1
	}
	return rr, nil
}

// extraCPU is the CPU time used so far by the target's extra processes, or
// -1 when unknown.
func (t *target) extraCPU() time.Duration {
	total := time.Duration(0)
	for _, p := range t.extra {
		c := p.cpu()
		if c < 0 {
			return -1
		}
		total += c
	}
	return total
}

// journalStats are the counters the plugin server logs when its journal
// closes.
type journalStats struct {
	Written, Dropped, Failed uint64
	seen                     bool
}

// stopLab stops the plugin server gracefully and reads its log: how many
// dispatches it logged at info, and the journal's final counters.
func stopLab(lab *process, logPath string) (journalStats, uint64, error) {
	var js journalStats
	if err := lab.terminate(15 * time.Second); err != nil {
		return js, 0, err
	}
	f, err := os.Open(logPath)
	if err != nil {
		return js, 0, err
	}
	defer f.Close()
	var lines uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Level    string `json:"level"`
			Msg      string `json:"msg"`
			Dispatch *struct {
				HookType string `json:"hook_type"`
			} `json:"dispatch"`
			Written uint64 `json:"written"`
			Dropped uint64 `json:"dropped"`
			Failed  uint64 `json:"failed"`
		}
		b := sc.Bytes()
		// Only decode the lines that matter: parsing every one of
		// millions of lines would take a while.
		isDispatch := bytes.Contains(b, []byte(`"hook_type":`))
		isClosed := bytes.Contains(b, []byte(`"journal closed"`))
		if !isDispatch && !isClosed {
			continue
		}
		if err := json.Unmarshal(b, &l); err != nil {
			continue
		}
		switch {
		case l.Msg == "journal closed":
			js = journalStats{Written: l.Written, Dropped: l.Dropped, Failed: l.Failed, seen: true}
		case l.Level == "INFO" && l.Dispatch != nil && l.Dispatch.HookType != "":
			lines++
		}
	}
	return js, lines, sc.Err()
}

func describe(o *coprocess.Object) string {
	s := fmt.Sprintf("%s hook, %s %s", o.GetHookType(), o.GetRequest().GetMethod(), o.GetRequest().GetRequestUri())
	if r := o.GetResponse(); r != nil {
		s += fmt.Sprintf(", response %d with a %d-byte body (sent as body and raw_body)", r.GetStatusCode(), len(r.GetRawBody()))
	}
	if o.GetSession().GetKeyId() != "" {
		s += ", keyed session"
	}
	return s
}

func printMachine() {
	fmt.Println("Part 1: plugin server Dispatch vs bare echo, through gRPC on 127.0.0.1")
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("machine: %d CPUs (%s), kernel %s, %s %s/%s\n", runtime.NumCPU(), model,
		strings.TrimSpace(string(kernel)), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("load average before: %s\n", load.LoadAvg())
}

// moduleRoot finds the directory holding go.mod, from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod found)")
		}
		dir = parent
	}
}

func goBuild(ctx context.Context, root, out string, pkgs ...string) error {
	args := append([]string{"build", "-o", out + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// cleanEnv is the environment without PLUGIN_* settings, so that the
// caller's shell cannot change what is measured.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGIN_") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func twoFreeAddrs() (string, string, error) {
	a, err := freePort()
	if err != nil {
		return "", "", err
	}
	b, err := freePort()
	for err == nil && b == a {
		b, err = freePort()
	}
	if err != nil {
		return "", "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a)), net.JoinHostPort("127.0.0.1", strconv.Itoa(b)), nil
}

func waitTCP(ctx context.Context, addr string, p *process) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not listen on %s: %v\n%s", p.name, addr, err, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisXAddStats is what Redis says XADD cost it, from INFO commandstats.
func redisXAddStats(ctx context.Context, addr string) string {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_xadd:"); ok {
			return "XADD " + strings.ReplaceAll(rest, ",", ", ")
		}
	}
	return ""
}
