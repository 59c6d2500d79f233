// Command gateway is part 2 of `make bench`: with the lab up (`make up`), it
// loads the real gateway over HTTP and compares, side by side in one run,
// the Classic API with its two gRPC hooks (/classic/, Pre and Response) with
// the identical API without plugins (/no-plugins/), alternating rounds at the
// same concurrency. It also reads the plugin server's CPU time from the
// Docker Engine API (container stats) and divides it by the dispatches made
// (two per request).
//
// With -swap-bare it stops the lab's plugin server halfway, puts
// bench/bareecho in its place (same network alias), measures again, restores
// the plugin server and measures the lab's second half: the hooks' cost with
// the lab's server against their cost with a bare echo, in an order that
// cancels a steady drift of the machine's speed.
//
// With -bodies it runs only part 3 instead (bodies.go): raw_body_only's
// effect on throughput and on the bytes per Dispatch, with JSON bodies of
// 64 KiB and 1 MiB; its last line is BENCH bodies ….
//
// When the lab does not answer, it says so and exits 0: part 2 is optional.
//
// The last line is machine-readable:
//
//	BENCH gateway classic_vs_noplugins=<ratio> best=<ratio> plugin_cpu_us_per_dispatch=<µs>
//
// followed, with -swap-bare, by bare_classic_vs_noplugins, bare_best,
// lab_vs_bare_classic and lab_vs_bare_classic_best.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/load"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// referenceRatio is classic/no-plugins throughput measured on gateway v5.14
// with a bare echo plugin server (the hooks cost about 2×); maxWorsening is
// how much the lab's server may lower it.
const (
	referenceRatio = 0.5
	maxWorsening   = 0.10
)

type options struct {
	url              string
	redisAddr        string
	project          string
	concurrency      int
	duration, warmup time.Duration
	rounds           int
	swapBare         bool
	// production: the lab's plugin server runs with the production
	// settings (journal off, log level warn, redaction on) for the run.
	production bool
	// bodies: run part 3 (bodies.go) instead.
	bodies bool
}

// productionTarget: with the production settings, the hooks cost no more
// than 5 % of /classic/'s throughput over a bare echo's (issue #16).
const productionTarget = 0.95

type api struct{ name, path string }

var apis = []api{
	{"no-plugins", "/no-plugins/anything/bench"},
	{"classic", "/classic/anything/bench"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	port := os.Getenv("TYK_GATEWAY_PORT")
	if port == "" {
		port = "8080"
	}
	project := os.Getenv("COMPOSE_PROJECT_NAME")
	if project == "" {
		project = "tyk-grpc-lab"
	}
	flag.StringVar(&o.url, "url", "http://127.0.0.1:"+port, "the lab's gateway")
	flag.StringVar(&o.project, "project", project, "compose project of the lab")
	redisPort := os.Getenv("LAB_REDIS_PORT")
	if redisPort == "" {
		redisPort = "6380"
	}
	flag.StringVar(&o.redisAddr, "redis", "127.0.0.1:"+redisPort, "the lab's Redis, whose journal counts the dispatches the plugin server handled")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent HTTP clients")
	// Many short rounds: on a shared machine the gateway's speed drifts
	// within seconds, and a pair of short rounds side by side sees the
	// same conditions more often than a pair of long ones.
	flag.DurationVar(&o.duration, "duration", time.Second, "measured time per round")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "unmeasured time before each round")
	flag.IntVar(&o.rounds, "rounds", 10, "rounds per API, alternating")
	flag.BoolVar(&o.swapBare, "swap-bare", false, "also measure with bench/bareecho in place of the lab's plugin server (stops it meanwhile)")
	flag.BoolVar(&o.production, "production", false, "run the plugin server with the production settings (journal off, log level warn, redaction on) in place of the lab's, against the bare echo (implies -swap-bare)")
	flag.BoolVar(&o.bodies, "bodies", false, fmt.Sprintf("run only part 3: raw_body_only against body+raw_body with JSON POSTs (%d rounds, concurrency %d unless given)", bodiesRounds, bodiesConcurrency))
	quick := flag.Bool("quick", false, fmt.Sprintf("3 rounds instead of 10 (-bodies: %d instead of %d)", bodiesQuickRounds, bodiesRounds))
	flag.Parse()
	if *quick {
		o.rounds = 3
	}
	if o.bodies {
		bodiesDefaults(&o, *quick)
	}
	if o.production {
		o.swapBare = true
	}
	return o
}

func run(ctx context.Context) error {
	opts := parseFlags()
	client := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        opts.concurrency * 2,
			MaxIdleConnsPerHost: opts.concurrency * 2,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
	if opts.bodies {
		return runBodies(ctx, opts, client)
	}
	fmt.Printf("Part 2: gateway %s, /classic/ (gRPC Pre + Response hooks) vs /no-plugins/, concurrency %d\n", opts.url, opts.concurrency)
	if err := labUp(ctx, client, opts.url); err != nil {
		fmt.Printf("part 2 skipped: the lab is not up at %s (%v); start it with `make up`\n", opts.url, err)
		return nil
	}

	m := &meter{opts: opts, client: client}
	m.journal = redis.NewClient(&redis.Options{Addr: opts.redisAddr, DB: 1, MaxRetries: -1})
	defer m.journal.Close()
	if m.journaled(ctx) < 0 {
		fmt.Printf("no dispatch count from the journal (Redis %s): assuming 2 dispatches per request\n", opts.redisAddr)
	}
	if d, err := newDocker(); err != nil {
		fmt.Println("no CPU figures:", err)
	} else {
		m.docker = d
		if m.plugin, err = d.findService(ctx, opts.project, "plugin-server"); err != nil {
			fmt.Println("no plugin server CPU figures:", err)
		}
		if m.gateway, err = d.findService(ctx, opts.project, "tyk-gateway"); err != nil {
			fmt.Println("no gateway CPU figures:", err)
		}
	}
	fmt.Printf("load average before: %s\n", load.LoadAvg())
	fmt.Printf("rounds: %d per API × (%v warm-up + %v measured), alternating\n", opts.rounds, opts.warmup, opts.duration)
	if opts.swapBare {
		fmt.Printf("order: %d lab rounds, %d with the bare echo, %d lab rounds\n", (opts.rounds+1)/2, opts.rounds, opts.rounds/2)
	}
	fmt.Println()

	// With -swap-bare: half the lab's rounds, the bare echo's, then the
	// other half of the lab's. The machine and the gateway drift over a
	// run (a whole phase can be 20 % slower than the one before); in this
	// order a steady drift weighs on both servers alike.
	labRounds := opts.rounds
	if opts.swapBare {
		labRounds = (opts.rounds + 1) / 2
	}
	server := "lab"
	if opts.production {
		restore, err := m.withProduction(ctx)
		if err != nil {
			return err
		}
		defer restore()
		server = "prod"
	}
	labRes, err := m.phase(ctx, server, m.plugin, labRounds)
	if err != nil {
		return err
	}
	var bareRes map[string][]round
	if opts.swapBare {
		bareRes, err = m.withBareEcho(ctx)
		if err != nil {
			return err
		}
		if rest := opts.rounds - labRounds; rest > 0 {
			more, err := m.phase(ctx, server, m.plugin, rest)
			if err != nil {
				return err
			}
			for k, rs := range more {
				labRes[k] = append(labRes[k], rs...)
			}
		}
	}
	fmt.Printf("load average after: %s\n", load.LoadAvg())
	if m.foreign > 0 {
		fmt.Printf("WARNING: %d round(s) saw other clients of the lab: these figures are not reliable; run again on a quiet lab\n", m.foreign)
	}
	report(opts, labRes, bareRes)
	return nil
}

// labUp checks that both APIs answer 200.
func labUp(ctx context.Context, c *http.Client, base string) error {
	for _, a := range apis {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := get(ctx, c, base+a.path)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Request-Id", "bench")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

type meter struct {
	opts    options
	client  *http.Client
	journal *redis.Client
	docker  *docker
	plugin  labContainer // the lab's plugin server (or the bare echo in its place)
	gateway labContainer
	foreign int // rounds disturbed by other clients of the lab
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// round is one measured round of one API.
type round struct {
	res *load.Result
	// requests is how many succeeded during the whole round (warm-up
	// included), the interval the CPU figures cover; elapsed is its length.
	requests            uint64
	elapsed             time.Duration
	dispatches          int64         // journaled during the round; -1: unknown
	foreign             bool          // more dispatches than our requests explain
	pluginCPU, gwCPU    time.Duration // -1: unknown
	pluginIdleCPUPerSec float64       // filled in by the phase
}

// phase runs rounds alternating rounds against whatever plugin server is up.
func (m *meter) phase(ctx context.Context, server string, plugin labContainer, rounds int) (map[string][]round, error) {
	out := map[string][]round{}
	for r := 0; r < rounds; r++ {
		order := apis
		if r%2 == 1 {
			order = []api{apis[1], apis[0]}
		}
		for _, a := range order {
			rd, err := m.round(ctx, a, plugin)
			if err != nil {
				return nil, err
			}
			out[a.name] = append(out[a.name], rd)
			fmt.Printf("  %-4s %-10s round %d: %7.0f req/s  p50 %7s  p99 %7s%s\n", server, a.name, r+1,
				rd.res.Throughput(), load.FormatDuration(rd.res.P50()), load.FormatDuration(rd.res.P99()), cpuNote(a, rd))
			if rd.foreign {
				m.foreign++
				fmt.Printf("    WARNING: the plugin server handled %d dispatches, our %d requests explain %d: someone else is using the lab\n",
					rd.dispatches, rd.requests, 2*rd.requests*boolInt(a.name == "classic"))
			}
		}
	}
	// The plugin server's CPU while the gateway did not call it (health
	// checks, the journal's idle loop) is subtracted from the classic
	// rounds' figures.
	var idle []float64
	for _, rd := range out["no-plugins"] {
		if rd.pluginCPU >= 0 {
			idle = append(idle, rd.pluginCPU.Seconds()/rd.elapsed.Seconds())
		}
	}
	for i := range out["classic"] {
		out["classic"][i].pluginIdleCPUPerSec = load.Median(idle)
	}
	return out, nil
}

func cpuNote(a api, rd round) string {
	var s string
	if rd.gwCPU >= 0 && rd.requests > 0 {
		s += fmt.Sprintf("  gateway cpu %5.1fµs/req", perCall(rd.gwCPU, rd.requests))
	}
	if a.name == "classic" && rd.pluginCPU >= 0 && rd.requests > 0 {
		s += fmt.Sprintf("  plugin server cpu %5.1fµs/dispatch (gross)", perCall(rd.pluginCPU, rd.dispatchCount()))
	}
	return s
}

// dispatchCount is the dispatches the plugin server handled in the round:
// journaled, or else two per request.
func (r round) dispatchCount() uint64 {
	if r.dispatches > 0 {
		return uint64(r.dispatches)
	}
	return 2 * r.requests
}

func perCall(d time.Duration, n uint64) float64 {
	return float64(d) / float64(time.Microsecond) / float64(n)
}

func (m *meter) round(ctx context.Context, a api, plugin labContainer) (round, error) {
	url := m.opts.url + a.path
	var ok atomic.Uint64
	j0 := m.journaled(ctx)
	p0, g0 := m.cpu(ctx, plugin), m.cpu(ctx, m.gateway)
	start := time.Now()
	res := load.Run(ctx, m.opts.concurrency, m.opts.warmup, m.opts.duration, func(ctx context.Context) error {
		err := get(ctx, m.client, url)
		if err == nil {
			ok.Add(1)
		}
		return err
	})
	elapsed := time.Since(start)
	p1, g1 := m.cpu(ctx, plugin), m.cpu(ctx, m.gateway)
	// The journal writes up to journal.DefaultLinger late.
	time.Sleep(50 * time.Millisecond)
	j1 := m.journaled(ctx)
	if ctx.Err() != nil {
		return round{}, ctx.Err()
	}
	if res.Errors > 0 || res.Calls == 0 {
		return round{}, fmt.Errorf("%s: %d requests failed (first: %v)", a.name, res.Errors, res.FirstError)
	}
	rd := round{res: res, requests: ok.Load(), elapsed: elapsed, pluginCPU: -1, gwCPU: -1, dispatches: -1}
	if j0 >= 0 && j1 >= 0 && plugin.Name != bareContainer {
		rd.dispatches = j1 - j0
		want := int64(0)
		if a.name == "classic" {
			want = 2 * int64(rd.requests)
		}
		// Someone else's requests to the lab during the round make its
		// figures (CPU above all) wrong.
		rd.foreign = rd.dispatches > want+want/50+20
	}
	if p0 >= 0 && p1 >= 0 {
		rd.pluginCPU = p1 - p0
	}
	if g0 >= 0 && g1 >= 0 {
		rd.gwCPU = g1 - g0
	}
	return rd, nil
}

// journaled is how many entries the plugin server's journal ever received
// (XINFO STREAM entries-added), or -1 when unknown.
func (m *meter) journaled(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := m.journal.XInfoStream(ctx, journal.DefaultStream).Result()
	if err != nil {
		return -1
	}
	return info.EntriesAdded
}

// cpu is a container's cumulative CPU time, or -1 when unknown.
func (m *meter) cpu(ctx context.Context, c labContainer) time.Duration {
	if m.docker == nil || c.ID == "" {
		return -1
	}
	d, err := m.docker.cpu(ctx, c.ID)
	if err != nil {
		return -1
	}
	return d
}

func report(opts options, lab, bare map[string][]round) {
	fmt.Printf("\nResults: medians of %d round(s); the median ratio is the median of the per-round classic/no-plugins ratios,\n", opts.rounds)
	fmt.Println("the best ratio that of the best rounds (outside load only ever slows a round down: the best round is the closest to the machine's capacity).")
	fmt.Printf("%-11s %-10s | %8s %8s %8s %8s | %13s %18s\n", "plugin srv", "api", "req/s", "best/s", "p50", "p99", "gateway cpu", "plugin cpu")
	printPhase("lab", lab)
	if bare != nil {
		printPhase("bare echo", bare)
	}
	labRatio, labP99 := ratios(lab)
	labBest := bestRatio(lab)
	pluginCPU := netPluginCPU(lab["classic"])
	fmt.Printf("\nlab plugin server: classic/no-plugins throughput %.2f× (best %.2f×), p99 %.2f×\n", labRatio, labBest, labP99)
	if pluginCPU > 0 {
		fmt.Printf("lab plugin server CPU per dispatch: %.1fµs (container CPU during the classic rounds, idle rate subtracted, / dispatches journaled)\n", pluginCPU)
	}
	machine := fmt.Sprintf("BENCH gateway classic_vs_noplugins=%.2f best=%.2f plugin_cpu_us_per_dispatch=%.1f", labRatio, labBest, pluginCPU)
	if bare != nil {
		bareRatio, bareP99 := ratios(bare)
		bareBest := bestRatio(bare)
		fmt.Printf("bare echo:         classic/no-plugins throughput %.2f× (best %.2f×), p99 %.2f×\n", bareRatio, bareBest, bareP99)
		if c := netPluginCPU(bare["classic"]); c > 0 {
			fmt.Printf("bare echo CPU per dispatch: %.1fµs\n", c)
		}
		// /no-plugins/ does not touch the plugin server: both phases
		// measure the same baseline, and the target comes down to the
		// classic API's throughput with one server against the other.
		med := medianOf(lab["classic"], tput) / medianOf(bare["classic"], tput)
		best := bestOf(lab["classic"]) / bestOf(bare["classic"])
		fmt.Printf("classic throughput, lab's server / bare echo: %.2f× (medians), %.2f× (best rounds)\n", med, best)
		fmt.Printf("target: the hooks cost no more than %.0f%% more with the lab's server, i.e. classic throughput >= %.2f× that with the bare echo: medians %s, best rounds %s\n",
			maxWorsening*100, 1-maxWorsening, verdict(med >= 1-maxWorsening), verdict(best >= 1-maxWorsening))
		machine += fmt.Sprintf(" bare_classic_vs_noplugins=%.2f bare_best=%.2f lab_vs_bare_classic=%.2f lab_vs_bare_classic_best=%.2f",
			bareRatio, bareBest, med, best)
		if opts.production {
			fmt.Printf("target (production settings): classic throughput >= %.2f× that with the bare echo: medians %s\n",
				productionTarget, verdict(med >= productionTarget))
			machine += fmt.Sprintf(" production_vs_bare_classic=%.2f production_target=%.2f", med, productionTarget)
		}
		fmt.Println(machine)
		return
	}
	want := referenceRatio * (1 - maxWorsening)
	fmt.Printf("target: classic/no-plugins with the lab's server >= %.2f× (the %.2f× measured on gateway v5.14 with a bare echo, less %.0f%%): medians %.2f %s, best rounds %.2f %s\n",
		want, referenceRatio, maxWorsening*100, labRatio, verdict(labRatio >= want), labBest, verdict(labBest >= want))
	fmt.Println("(BENCH_GATEWAY_BARE=1 measures the bare echo in the same run instead of using the reference)")
	fmt.Println(machine)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func tput(r round) float64 { return r.res.Throughput() }

// bestOf is the highest throughput of the rounds.
func bestOf(rs []round) float64 {
	best := 0.0
	for _, r := range rs {
		best = max(best, r.res.Throughput())
	}
	return best
}

// bestRatio is classic/no-plugins from each API's best round.
func bestRatio(res map[string][]round) float64 {
	if n := bestOf(res["no-plugins"]); n > 0 {
		return bestOf(res["classic"]) / n
	}
	return 0
}

func printPhase(server string, res map[string][]round) {
	for _, a := range apis {
		rs := res[a.name]
		gw := medianOf(rs, func(r round) float64 {
			if r.gwCPU < 0 || r.requests == 0 {
				return 0
			}
			return perCall(r.gwCPU, r.requests)
		})
		plugin := "-"
		if a.name == "classic" {
			if c := netPluginCPU(rs); c > 0 {
				plugin = fmt.Sprintf("%.1fµs/dispatch", c)
			}
		}
		fmt.Printf("%-11s %-10s | %8.0f %8.0f %8s %8s | %9.1fµs/req %18s\n", server, a.name,
			medianOf(rs, tput), bestOf(rs),
			load.FormatDuration(time.Duration(medianOf(rs, func(r round) float64 { return float64(r.res.P50()) }))),
			load.FormatDuration(time.Duration(medianOf(rs, func(r round) float64 { return float64(r.res.P99()) }))),
			gw, plugin)
	}
}

// ratios are the medians of the per-round classic/no-plugins throughput and
// p99 ratios.
func ratios(res map[string][]round) (throughput, p99 float64) {
	result := func(r round) *load.Result { return r.res }
	return medianRatios(resultsOf(res["classic"], result), resultsOf(res["no-plugins"], result))
}

// resultsOf is each round's load result.
func resultsOf[R any](rs []R, res func(R) *load.Result) []*load.Result {
	out := make([]*load.Result, len(rs))
	for i, r := range rs {
		out[i] = res(r)
	}
	return out
}

// medianRatios are the medians of the per-round num/den throughput and p99
// ratios, round i against round i; a round in which either got no answer
// is left out.
func medianRatios(num, den []*load.Result) (throughput, p99 float64) {
	var t, p []float64
	for i := range min(len(num), len(den)) {
		n, d := num[i], den[i]
		if n.Calls == 0 || d.Calls == 0 {
			continue
		}
		t = append(t, n.Throughput()/d.Throughput())
		p = append(p, float64(n.P99())/float64(d.P99()))
	}
	return load.Median(t), load.Median(p)
}

// netPluginCPU is the median plugin server CPU per dispatch over classic
// rounds, its idle rate subtracted; 0 when unknown.
func netPluginCPU(rs []round) float64 {
	var xs []float64
	for _, r := range rs {
		if r.pluginCPU < 0 || r.requests == 0 {
			continue
		}
		net := r.pluginCPU.Seconds() - r.pluginIdleCPUPerSec*r.elapsed.Seconds()
		xs = append(xs, max(net, 0)*1e6/float64(r.dispatchCount()))
	}
	return load.Median(xs)
}

func medianOf(rs []round, f func(round) float64) float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	return load.Median(xs)
}
