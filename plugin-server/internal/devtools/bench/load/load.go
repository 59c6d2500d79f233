// Package load is the benchmarks' small closed-loop load generator: N
// goroutines call a function back to back for a fixed time, and the calls
// that complete inside the measured window give the throughput and a
// latency histogram. It allocates nothing per call, so that it takes as
// little as possible of the CPU the measured servers share with it.
package load

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Histogram records durations in log-linear buckets: 64 per power of two,
// so a quantile is within about 1.6% of the true value.
type Histogram struct {
	counts [64 * subBuckets]uint64
	n      uint64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
)

func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	e := bits.Len64(ns) - subBits // >= 1
	return e*subBuckets + int((ns>>(e-1))&(subBuckets-1))
}

// lowOf is the smallest value of a bucket; midOf its middle.
func lowOf(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e, m := i/subBuckets, uint64(i%subBuckets)
	return (subBuckets | m) << (e - 1)
}

func midOf(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i / subBuckets
	return lowOf(i) + (uint64(1)<<(e-1))/2
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the q-quantile (0 < q <= 1), or 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(midOf(i))
		}
	}
	return time.Duration(midOf(len(h.counts) - 1))
}

// Result is what one run measured.
type Result struct {
	Concurrency int
	Window      time.Duration // measured window
	Calls       uint64        // successful calls completed in the window
	Errors      uint64        // failed calls completed in the window
	Hist        Histogram     // latency of the successful calls
	FirstError  error
}

// Throughput is successful calls per second.
func (r *Result) Throughput() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Window.Seconds()
}

// P50 and P99 are latency quantiles of the successful calls.
func (r *Result) P50() time.Duration { return r.Hist.Quantile(0.50) }
func (r *Result) P99() time.Duration { return r.Hist.Quantile(0.99) }

// Run calls fn from concurrency goroutines, back to back, for warmup plus
// window; calls completing inside the window are measured. fn's context
// ends shortly after the window.
func Run(ctx context.Context, concurrency int, warmup, window time.Duration, fn func(context.Context) error) *Result {
	ctx, cancel := context.WithTimeout(ctx, warmup+window+10*time.Second)
	defer cancel()
	start := time.Now()
	t0, t1 := start.Add(warmup), start.Add(warmup+window)

	type worker struct {
		hist          Histogram
		calls, errors uint64
		firstErr      error
	}
	workers := make([]*worker, concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil {
				begin := time.Now()
				if !begin.Before(t1) {
					return
				}
				err := fn(ctx)
				end := time.Now()
				if end.Before(t0) || !end.Before(t1) {
					continue
				}
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.calls++
				w.hist.Record(end.Sub(begin))
			}
		})
	}
	wg.Wait()
	r := &Result{Concurrency: concurrency, Window: window}
	for _, w := range workers {
		r.Hist.Merge(&w.hist)
		r.Calls += w.calls
		r.Errors += w.errors
		if r.FirstError == nil {
			r.FirstError = w.firstErr
		}
	}
	return r
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// FormatDuration prints a latency compactly: µs below 10 ms, else ms.
func FormatDuration(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	if us < 10000 {
		return fmt.Sprintf("%.0fµs", us)
	}
	return fmt.Sprintf("%.1fms", us/1000)
}

// LoadAvg returns the machine's 1, 5 and 15 minute load averages, to print
// beside figures that a busy machine would skew.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
