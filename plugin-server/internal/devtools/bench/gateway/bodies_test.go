package main

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/load"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

func TestJSONBody(t *testing.T) {
	for _, n := range append([]int{11, 12, 100}, bodySizes...) {
		b := jsonBody(n)
		if len(b) != n {
			t.Errorf("jsonBody(%d) is %d bytes", n, len(b))
		}
		var v struct{ Data string }
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("jsonBody(%d) is not JSON: %v", n, err)
		}
		if len(v.Data) != n-11 {
			t.Errorf("jsonBody(%d): data is %d bytes, want %d", n, len(v.Data), n-11)
		}
		if !utf8.Valid(b) {
			t.Errorf("jsonBody(%d) is not UTF-8", n)
		}
	}
}

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int]string{64 << 10: "64KiB", 1 << 20: "1MiB", 16 << 20: "16MiB", 1536 << 10: "1536KiB", 100: "100B"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTally(t *testing.T) {
	tl := tally{}
	corr := corrID(64 << 10)
	rec := func(api, hook, corr, bodies string, bytes int) journal.Record {
		return journal.Record{Kind: journal.KindDispatch, APIID: api, HookType: hook, CorrelationID: corr, Bodies: bodies, Bytes: bytes}
	}
	for _, c := range []struct {
		r    journal.Record
		ours bool
	}{
		{rec(bodiesBoth.apiID, "Pre", corr, journal.BodiesTwice, 100), true},
		{rec(bodiesBoth.apiID, "Pre", corr, journal.BodiesTwice, 200), true},
		{rec(bodiesBoth.apiID, "Pre", corr, journal.BodiesTwice, 0), true}, // an older plugin server: no bytes
		{rec(bodiesRaw.apiID, "Pre", "", journal.BodiesRawOnly, 60), true}, // no correlation id: the current size's
		{rec(bodiesRaw.apiID, "Response", corrID(1<<20), journal.BodiesRawOnly, 999), true},
		{rec(bodiesRaw.apiID, "Pre", "someone", journal.BodiesRawOnly, 1), false},
		{rec("classic", "Pre", corr, "", 1), false},
		{journal.Record{Kind: journal.KindEvent, APIID: bodiesBoth.apiID, CorrelationID: corr}, false},
	} {
		if got := tl.add(c.r, corr); got != c.ours {
			t.Errorf("add(%+v) = %v, want %v", c.r, got, c.ours)
		}
	}
	if got := tl.meanBytes(corr, bodiesBoth.apiID, "Pre"); got != 150 {
		t.Errorf("both Pre mean = %v, want 150", got)
	}
	if n, withBytes := tl.count(corr, bodiesBoth.apiID, "Pre"); n != 3 || withBytes != 2 {
		t.Errorf("both Pre count = %d, %d, want 3, 2", n, withBytes)
	}
	if got := tl.meanBytes(corr, bodiesRaw.apiID, "Pre"); got != 60 {
		t.Errorf("raw Pre mean = %v, want 60", got)
	}
	if got := tl.meanBytes(corr, bodiesRaw.apiID, "Response"); got != 0 {
		t.Errorf("raw Response mean at 64KiB = %v, want 0 (the record is 1MiB's)", got)
	}
	if got := tl.meanBytes(corrID(1<<20), bodiesRaw.apiID, "Response"); got != 999 {
		t.Errorf("raw Response mean at 1MiB = %v, want 999", got)
	}
	if got := tl.modes(corr, bodiesBoth.apiID, bodyHooks...); got != journal.BodiesTwice {
		t.Errorf("modes = %q", got)
	}
	tl.add(rec(bodiesBoth.apiID, "Response", corr, journal.BodiesRawOnly, 5), corr)
	if got, want := tl.modes(corr, bodiesBoth.apiID, bodyHooks...), "body+raw_body×3,raw_body_only×1"; got != want {
		t.Errorf("modes = %q, want %q", got, want)
	}
}

func TestBodiesRatios(t *testing.T) {
	res := func(calls uint64, p99 time.Duration) bodiesRound {
		r := &load.Result{Window: time.Second, Calls: calls}
		for range calls {
			r.Hist.Record(p99)
		}
		return bodiesRound{res: r}
	}
	s := bodiesSize{rounds: map[string][]bodiesRound{
		bodiesBoth.name: {res(100, time.Millisecond), res(0, 0), res(200, time.Millisecond), res(100, time.Millisecond)},
		bodiesRaw.name:  {res(150, time.Millisecond), res(50, time.Millisecond), res(200, time.Millisecond), res(110, time.Millisecond)},
	}}
	tp, p99 := bodiesRatios(s)
	if tp != 1.1 { // median of 1.5, 1.0, 1.1 (the round without answers left out)
		t.Errorf("throughput ratio = %v, want 1.1", tp)
	}
	if p99 != 1 {
		t.Errorf("p99 ratio = %v, want 1", p99)
	}
}

func TestBodiesLine(t *testing.T) {
	got := bodiesLine([]bodiesSummary{
		{label: "64KiB", ratio: 1.234, pre: [2]float64{131500.4, 65800}, response: [2]float64{400000, 200000}},
		{label: "1MiB", ratio: 1.5, pre: [2]float64{2097500, 1048900}, response: [2]float64{0, 0}},
	})
	want := "BENCH bodies 64KiB_raw_vs_both=1.23 1MiB_raw_vs_both=1.50 64KiB_bytes_pre=131500/65800 64KiB_bytes_response=400000/200000 1MiB_bytes_pre=2097500/1048900 1MiB_bytes_response=0/0"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
