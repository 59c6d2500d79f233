// -bodies, part 3 of `make bench`: what the Tyk setting raw_body_only
// saves. Two keyless APIs of the lab have the same gRPC hook, BodySeen, as
// Pre, Post and Response hooks: /bodies/ (apis/classic-bodies.json), to
// which the gateway sends a UTF-8 body twice (body and raw_body), and
// /bodies-raw/ (apis/classic-bodies-raw.json, raw_body_only: true), to
// which it sends it once (raw_body). For each body size, JSON POSTs to
// go-httpbin's /anything (which echoes the body back, so the Response hook
// gets it too) go to both APIs in alternating rounds; the journal's records
// of those requests give the bytes per Dispatch (the protobuf Object the
// gateway sent) by hook type.
//
// The last line is machine-readable:
//
//	BENCH bodies 64KiB_raw_vs_both=<ratio> 1MiB_raw_vs_both=<ratio> 64KiB_bytes_pre=<both>/<raw> 64KiB_bytes_response=<both>/<raw> 1MiB_bytes_pre=<both>/<raw> 1MiB_bytes_response=<both>/<raw>
//
// where a ratio is the median of the per-round raw_body_only/body+raw_body
// throughput ratios and bytes are mean bytes per Dispatch (0: unknown).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/load"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// Part 3's defaults, where the flags -rounds and -concurrency are not given:
// fewer rounds than part 2 (each 1 MiB round is slow) and fewer clients (a
// 1 MiB body per client in flight).
const (
	bodiesRounds      = 6
	bodiesQuickRounds = 2
	bodiesConcurrency = 4
)

// bodySizes are the JSON bodies' sizes, in this order.
var bodySizes = []int{64 << 10, 1 << 20}

// bodyAPI is one of the two APIs part 3 compares.
type bodyAPI struct {
	name  string // how the gateway sends a UTF-8 body (journal.Bodies*)
	path  string // POSTed to (the upstream's echo)
	apiID string // the api_id of its records in the journal
	file  string // its definition in apis/
}

var (
	bodiesBoth = bodyAPI{journal.BodiesTwice, "/bodies/anything/bench", "classic-bodies", "apis/classic-bodies.json"}
	bodiesRaw  = bodyAPI{journal.BodiesRawOnly, "/bodies-raw/anything/bench", "classic-bodies-raw", "apis/classic-bodies-raw.json"}
	bodyAPIs   = []bodyAPI{bodiesBoth, bodiesRaw}
	bodyHooks  = []string{"Pre", "Post", "Response"} // coprocess.HookType names, as journaled
)

// corrPrefix starts the X-Request-Id of part 3's requests; the journal
// records it (PLUGIN_CORRELATION_HEADER), which tells part 3's records
// from anyone else's, and one body size's from the other's.
const corrPrefix = "bench-bodies-"

func corrID(size int) string { return corrPrefix + sizeLabel(size) }

// bodiesDefaults applies part 3's defaults to the flags not given.
func bodiesDefaults(o *options, quick bool) {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["rounds"] {
		o.rounds = bodiesRounds
		if quick {
			o.rounds = bodiesQuickRounds
		}
	}
	if !set["concurrency"] {
		o.concurrency = bodiesConcurrency
	}
}

// sizeLabel is a size as the BENCH line names it: 64KiB, 1MiB.
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}

// jsonBody is a JSON object of exactly n bytes (n >= 11), valid UTF-8
// (ASCII): {"data":"abc…"}.
func jsonBody(n int) []byte {
	const head, tail = `{"data":"`, `"}`
	const filler = "abcdefghijklmnopqrstuvwxyz0123456789"
	if n < len(head)+len(tail) {
		panic(fmt.Sprintf("jsonBody(%d): too small for %s%s", n, head, tail))
	}
	b := make([]byte, 0, n)
	b = append(b, head...)
	for len(b) < n-len(tail) {
		b = append(b, filler[(len(b)-len(head))%len(filler)])
	}
	return append(b, tail...)
}

// post sends body as JSON and reads the whole answer, which must be 200
// with a body; it returns the answer's length.
func post(ctx context.Context, c *http.Client, url string, body []byte, reqID string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", reqID)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// What the gateway says (Middleware error, a gRPC size limit…).
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("POST %s (%s): %s: %q", url, sizeLabel(len(body)), resp.Status, strings.TrimSpace(string(msg)))
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("POST %s (%s): reading the answer: %w", url, sizeLabel(len(body)), err)
	}
	if n == 0 {
		return 0, fmt.Errorf("POST %s (%s): 200 with an empty body", url, sizeLabel(len(body)))
	}
	return n, nil
}

// bodiesRound is one measured round of one API at one size.
type bodiesRound struct {
	res *load.Result
	// ok and failed count every request of the round, warm-up included;
	// firstErr is the first failure's error.
	ok, failed uint64
	firstErr   error
	respBytes  uint64 // the successful answers' bytes
}

// bodiesSize is what the rounds of one body size measured.
type bodiesSize struct {
	size   int
	rounds map[string][]bodiesRound // by bodyAPI.name
}

func runBodies(ctx context.Context, opts options, client *http.Client) error {
	if opts.swapBare {
		return errors.New("-bodies runs part 3 alone: it does not combine with -swap-bare or -production")
	}
	var labels []string
	for _, n := range bodySizes {
		labels = append(labels, sizeLabel(n))
	}
	fmt.Printf("Part 3: gateway %s, raw_body_only: %s (%s) vs %s (%s), gRPC hook BodySeen as Pre, Post and Response; JSON POSTs of %s, concurrency %d\n",
		opts.url, strings.TrimSuffix(bodiesBoth.path, "anything/bench"), bodiesBoth.name,
		strings.TrimSuffix(bodiesRaw.path, "anything/bench"), bodiesRaw.name, strings.Join(labels, " and "), opts.concurrency)
	if err := labUp(ctx, client, opts.url); err != nil {
		fmt.Printf("part 3 skipped: the lab is not up at %s (%v); start it with `make up`\n", opts.url, err)
		return nil
	}
	for _, a := range bodyAPIs {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := post(pctx, client, opts.url+a.path, jsonBody(64), corrPrefix+"probe")
		cancel()
		if err != nil {
			return fmt.Errorf("the lab is up but %s does not answer: %w (does the gateway have %s? `make up` loads apis/)", a.path, err, a.file)
		}
	}

	rdb := redis.NewClient(&redis.Options{Addr: opts.redisAddr, DB: 1, MaxRetries: -1})
	defer rdb.Close()
	jr := &bodiesJournal{rdb: rdb, tally: tally{}}
	if err := jr.start(ctx); err != nil {
		fmt.Printf("no bytes per Dispatch: cannot read the journal (Redis %s DB 1, stream %s): %v\n", opts.redisAddr, journal.DefaultStream, err)
		jr = nil
	}
	fmt.Printf("load average before: %s\n", load.LoadAvg())
	fmt.Printf("rounds: %d per API and size × (%v warm-up + %v measured), alternating\n\n", opts.rounds, opts.warmup, opts.duration)

	var results []bodiesSize
	for _, size := range bodySizes {
		body := jsonBody(size)
		res := bodiesSize{size: size, rounds: map[string][]bodiesRound{}}
		for r := 0; r < opts.rounds; r++ {
			order := bodyAPIs
			if r%2 == 1 {
				order = []bodyAPI{bodyAPIs[1], bodyAPIs[0]}
			}
			for _, a := range order {
				rd := bodiesMeasure(ctx, opts, client, a, body)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res.rounds[a.name] = append(res.rounds[a.name], rd)
				fmt.Printf("  %-6s %-14s round %d: %7.0f req/s  p50 %7s  p99 %7s  answer %s%s\n", sizeLabel(size), a.name, r+1,
					rd.res.Throughput(), load.FormatDuration(rd.res.P50()), load.FormatDuration(rd.res.P99()),
					answerSize(rd), failedNote(rd))
				if jr != nil {
					// The journal writes up to journal.DefaultLinger late.
					time.Sleep(2*journal.DefaultLinger + 50*time.Millisecond)
					if err := jr.read(ctx, corrID(size)); err != nil {
						fmt.Printf("    reading the journal: %v\n", err)
					}
				}
			}
		}
		results = append(results, res)
	}
	fmt.Printf("load average after: %s\n", load.LoadAvg())
	bodiesReport(opts, results, jr)
	return nil
}

// bodiesMeasure runs one round of POSTs of body to a.
func bodiesMeasure(ctx context.Context, opts options, client *http.Client, a bodyAPI, body []byte) bodiesRound {
	url := opts.url + a.path
	reqID := corrID(len(body))
	var ok, failed, respBytes atomic.Uint64
	var mu sync.Mutex
	var firstErr error
	res := load.Run(ctx, opts.concurrency, opts.warmup, opts.duration, func(ctx context.Context) error {
		n, err := post(ctx, client, url, body, reqID)
		if err != nil {
			failed.Add(1)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return err
		}
		ok.Add(1)
		respBytes.Add(uint64(n))
		return nil
	})
	return bodiesRound{res: res, ok: ok.Load(), failed: failed.Load(), firstErr: firstErr, respBytes: respBytes.Load()}
}

func answerSize(rd bodiesRound) string {
	if rd.ok == 0 {
		return "-"
	}
	return fmt.Sprintf("%d B", rd.respBytes/rd.ok)
}

func failedNote(rd bodiesRound) string {
	if rd.failed == 0 {
		return ""
	}
	return fmt.Sprintf("  FAILED %d (first: %v)", rd.failed, rd.firstErr)
}

// bodiesJournal reads the journal's records as they come, from where the
// part started.
type bodiesJournal struct {
	rdb   *redis.Client
	last  string // the last entry read
	tally tally
	// other counts the dispatches journaled that were not part 3's
	// (other APIs or clients); bad the entries Decode refused.
	other, bad int
	badErr     error
}

// start makes the next read begin after the stream's newest entry.
func (j *bodiesJournal) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := j.rdb.XInfoStream(ctx, journal.DefaultStream).Result()
	switch {
	case err == nil:
		j.last = info.LastGeneratedID
	case strings.Contains(err.Error(), "no such key"): // no entry yet
		j.last = "0-0"
	default:
		return err
	}
	return nil
}

// read tallies the entries added since the last read; current is the
// correlation id of the records that carry none (the correlation header
// unset).
func (j *bodiesJournal) read(ctx context.Context, current string) error {
	const page = 1000
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msgs, err := j.rdb.XRangeN(rctx, journal.DefaultStream, "("+j.last, "+", page).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("XRANGE %s (%s +: %w", journal.DefaultStream, j.last, err)
		}
		for _, m := range msgs {
			j.last = m.ID
			rec, err := journal.Decode(m)
			if err != nil {
				j.bad++
				if j.badErr == nil {
					j.badErr = err
				}
				continue
			}
			if !j.tally.add(rec, current) && rec.Kind == journal.KindDispatch {
				j.other++
			}
		}
		if len(msgs) < page {
			return nil
		}
	}
}

// hookKey names the records of one hook type of one API for one body size
// (its correlation id).
type hookKey struct{ corr, apiID, hook string }

type hookStats struct {
	records   int
	withBytes int // records with a size: a plugin server that journals bytes
	bytes     int64
	modes     map[string]int // journal.Record.Bodies → records
}

// tally sums the journal's records of part 3's requests.
type tally map[hookKey]*hookStats

// add counts r if it is a dispatch of one of part 3's requests (its
// correlation id, or current when it has none), and says whether it was.
func (t tally) add(r journal.Record, current string) bool {
	if r.Kind != journal.KindDispatch || !slices.ContainsFunc(bodyAPIs, func(a bodyAPI) bool { return a.apiID == r.APIID }) {
		return false
	}
	corr := r.CorrelationID
	if corr == "" {
		corr = current
	}
	if !strings.HasPrefix(corr, corrPrefix) {
		return false
	}
	k := hookKey{corr, r.APIID, r.HookType}
	s := t[k]
	if s == nil {
		s = &hookStats{modes: map[string]int{}}
		t[k] = s
	}
	s.records++
	if r.Bytes > 0 {
		s.withBytes++
		s.bytes += int64(r.Bytes)
	}
	s.modes[r.Bodies]++
	return true
}

// meanBytes is the mean size of the Objects of the records with a size, or
// 0 when there are none.
func (t tally) meanBytes(corr, apiID, hook string) float64 {
	s := t[hookKey{corr, apiID, hook}]
	if s == nil || s.withBytes == 0 {
		return 0
	}
	return float64(s.bytes) / float64(s.withBytes)
}

// count is how many records one hook of one API got at one size, and how
// many of them carry a size.
func (t tally) count(corr, apiID, hook string) (n, withBytes int) {
	if s := t[hookKey{corr, apiID, hook}]; s != nil {
		return s.records, s.withBytes
	}
	return 0, 0
}

// modes lists how the bodies travelled in the records of hooks of one API
// at one size: "body+raw_body", or several with their counts.
func (t tally) modes(corr, apiID string, hooks ...string) string {
	all := map[string]int{}
	for _, h := range hooks {
		if s := t[hookKey{corr, apiID, h}]; s != nil {
			for m, n := range s.modes {
				if m == "" {
					m = "none"
				}
				all[m] += n
			}
		}
	}
	if len(all) == 0 {
		return "-"
	}
	names := make([]string, 0, len(all))
	for m := range all {
		names = append(names, m)
	}
	slices.Sort(names)
	if len(names) == 1 {
		return names[0]
	}
	for i, m := range names {
		names[i] = fmt.Sprintf("%s×%d", m, all[m])
	}
	return strings.Join(names, ",")
}

// bodiesRatios are the medians of the per-round raw/both throughput and
// p99 ratios (rounds where either API got no answer left out).
func bodiesRatios(s bodiesSize) (throughput, p99 float64) {
	res := func(r bodiesRound) *load.Result { return r.res }
	return medianRatios(resultsOf(s.rounds[bodiesRaw.name], res), resultsOf(s.rounds[bodiesBoth.name], res))
}

// bodiesSummary is what the BENCH line says of one size.
type bodiesSummary struct {
	label string
	// ratio and p99 are raw/both, throughput and p99 (bodiesRatios).
	ratio, p99 float64
	// pre and response are the mean bytes per Dispatch, [both, raw].
	pre, response [2]float64
}

// bodiesLine is the machine-readable last line.
func bodiesLine(ss []bodiesSummary) string {
	var b strings.Builder
	b.WriteString("BENCH bodies")
	for _, s := range ss {
		fmt.Fprintf(&b, " %s_raw_vs_both=%.2f", s.label, s.ratio)
	}
	for _, s := range ss {
		fmt.Fprintf(&b, " %s_bytes_pre=%.0f/%.0f %s_bytes_response=%.0f/%.0f",
			s.label, s.pre[0], s.pre[1], s.label, s.response[0], s.response[1])
	}
	return b.String()
}

func bodiesReport(opts options, results []bodiesSize, jr *bodiesJournal) {
	fmt.Printf("\nResults: medians of %d round(s) per API and size; raw/both is the median of the per-round %s/%s throughput ratios.\n",
		opts.rounds, bodiesRaw.name, bodiesBoth.name)
	fmt.Println("bytes/Dispatch: mean size of the Object the gateway sent (protobuf), from the journal's records of these requests.")
	fmt.Println("journaled: records by hook (Pre/Post/Response) of the successful requests (warm-ups included).")
	fmt.Printf("%-6s %-14s | %8s %8s %8s %7s | %10s %10s %10s | %24s | %s\n",
		"size", "api", "req/s", "p50", "p99", "failed", "Pre B", "Post B", "Resp. B", "journaled", "bodies sent")
	var t tally
	if jr != nil {
		t = jr.tally
	}
	var summaries []bodiesSummary
	var warnings []string
	noBytes := false
	for _, s := range results {
		corr := corrID(s.size)
		label := sizeLabel(s.size)
		sum := bodiesSummary{label: label}
		for i, a := range bodyAPIs {
			rs := s.rounds[a.name]
			var ok, failed uint64
			var firstErr error
			var tp, p50, p99 []float64
			for _, r := range rs {
				ok += r.ok
				failed += r.failed
				if firstErr == nil {
					firstErr = r.firstErr
				}
				tp = append(tp, r.res.Throughput())
				p50 = append(p50, float64(r.res.P50()))
				p99 = append(p99, float64(r.res.P99()))
			}
			if failed > 0 {
				warnings = append(warnings, fmt.Sprintf("%s %s: %d request(s) failed (first: %v)", label, a.name, failed, firstErr))
			}
			bytesCol := func(hook string) string {
				if jr == nil {
					return "-"
				}
				return fmt.Sprintf("%.0f", t.meanBytes(corr, a.apiID, hook))
			}
			journaled, modes := "-", "-"
			if jr != nil {
				var counts []string
				for _, h := range bodyHooks {
					n, withBytes := t.count(corr, a.apiID, h)
					counts = append(counts, fmt.Sprint(n))
					if n > 0 && withBytes == 0 {
						noBytes = true
					}
					if uint64(n) < ok {
						warnings = append(warnings, fmt.Sprintf("%s %s: %d %s records in the journal for %d successful requests (journal off, trimmed or dropping?)", label, a.name, n, h, ok))
					}
					if m := t.modes(corr, a.apiID, h); m != "-" && m != a.name {
						warnings = append(warnings, fmt.Sprintf("%s %s: the %s hook got the bodies as %s, not %s", label, a.name, h, m, a.name))
					}
				}
				journaled = fmt.Sprintf("%s of %d", strings.Join(counts, "/"), ok)
				modes = t.modes(corr, a.apiID, bodyHooks...)
			}
			fmt.Printf("%-6s %-14s | %8.0f %8s %8s %7d | %10s %10s %10s | %24s | %s\n", label, a.name,
				load.Median(tp), load.FormatDuration(time.Duration(load.Median(p50))), load.FormatDuration(time.Duration(load.Median(p99))),
				failed, bytesCol("Pre"), bytesCol("Post"), bytesCol("Response"), journaled, modes)
			sum.pre[i] = t.meanBytes(corr, a.apiID, "Pre")
			sum.response[i] = t.meanBytes(corr, a.apiID, "Response")
		}
		sum.ratio, sum.p99 = bodiesRatios(s)
		summaries = append(summaries, sum)
	}
	fmt.Println()
	for i, s := range results {
		sum := summaries[i]
		line := fmt.Sprintf("%s: %s/%s throughput %.2f×, p99 %.2f×", sum.label, bodiesRaw.name, bodiesBoth.name, sum.ratio, sum.p99)
		if jr != nil {
			corr := corrID(s.size)
			for _, h := range bodyHooks {
				b, r := t.meanBytes(corr, bodiesBoth.apiID, h), t.meanBytes(corr, bodiesRaw.apiID, h)
				if b > 0 && r > 0 {
					line += fmt.Sprintf("; %s bytes %.2f×", h, r/b)
				}
			}
		}
		fmt.Println(line)
	}
	if jr == nil {
		fmt.Println("no bytes per Dispatch: the journal could not be read (0 in the BENCH line)")
	} else {
		if noBytes {
			fmt.Println("WARNING: the journal's records carry no bytes: the plugin server predates the bytes field; rebuild the lab (make up)")
		}
		if jr.bad > 0 {
			fmt.Printf("WARNING: %d journal entries could not be decoded (first: %v)\n", jr.bad, jr.badErr)
		}
		if jr.other > 0 {
			fmt.Printf("WARNING: %d dispatches journaled during the run were not part 3's: someone else is using the lab; the throughput figures are not reliable\n", jr.other)
		}
	}
	for _, w := range warnings {
		fmt.Println("WARNING:", w)
	}
	fmt.Println(bodiesLine(summaries))
}
