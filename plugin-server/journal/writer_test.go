// Tests the journal Writer against a real Redis (internal/testkit/redistest): what
// it stores and how it decodes, the stream bound, and the failure modes — a full buffer
// drops without blocking, a Redis that is down costs counted entries, and
// every entry handed over is accounted for after Close.
package journal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/redistest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

const stream = "test:journal"

// writerClient connects like the plugin server does (short timeouts, one
// retry), but without dial retries so that a Redis that is down fails fast.
func writerClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:          addr,
		DialTimeout:   time.Second,
		ReadTimeout:   10 * time.Second, // outlasts CLIENT PAUSE below
		WriteTimeout:  2 * time.Second,
		MaxRetries:    -1,
		DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newWriter(t *testing.T, rdb redis.UniversalClient, opts journal.Options) *journal.Writer {
	t.Helper()
	if opts.Stream == "" {
		opts.Stream = stream
	}
	if opts.MaxLen == 0 {
		opts.MaxLen = 100000
	}
	w := journal.NewWriter(rdb, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func closeWriter(t *testing.T, w *journal.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func dispatchEntry(o *coprocess.Object, corr string) *journal.Record {
	return &journal.Record{Time: time.Now(), Kind: journal.KindDispatch, HookType: o.GetHookType().String(),
		HookName: o.GetHookName(), Received: o, CorrelationID: corr, DurationUS: 42}
}

func readAll(t *testing.T, rdb *redis.Client) []journal.Record {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]journal.Record, len(msgs))
	for i, m := range msgs {
		if out[i], err = journal.Decode(m); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestWriterStoresAndDecodes: a Record goes in, the same Record comes back,
// its objects included.
func TestWriterStoresAndDecodes(t *testing.T) {
	r := redistest.Start(t)
	keyed := captures.MustFind(t, captures.Hook(coprocess.HookType_Response, true))
	returned := proto.CloneOf(keyed)
	returned.Response.StatusCode = 201
	ev := captures.MustEvents(t)[1]
	w := newWriter(t, writerClient(t, r.Addr), journal.Options{})
	start := time.Now().UTC()
	in := []*journal.Record{
		{Time: start, Kind: journal.KindDispatch, HookType: "Response", HookName: "MyResponsePlugin", APIID: "classic-auth",
			OrgID: "default", Method: "POST", Path: "/auth/resource?a=b", Status: 200, Session: journal.SessionPresent,
			Key: "redacted:sha256:0123456789ab", CorrelationID: "corr-1", DurationUS: 42,
			Changes: []string{"response status 201"}, Received: keyed, Returned: returned},
		{Time: start, Kind: journal.KindDispatch, HookName: "Broken", Error: "no such thing", Received: keyed},
		{Time: start, Kind: journal.KindEvent, EventType: "KeyExpired", APIID: "classic-auth", Event: json.RawMessage(ev)},
	}
	for _, rec := range in {
		w.Append(rec)
	}
	closeWriter(t, w)
	if st := w.Stats(); st != (journal.Stats{Written: uint64(len(in))}) {
		t.Errorf("Stats = %+v", st)
	}
	recs := readAll(t, r.Client)
	if len(recs) != len(in) {
		t.Fatalf("%d records, want %d", len(recs), len(in))
	}
	for i, got := range recs {
		want := *in[i]
		if got.ID == "" || !got.Time.Equal(want.Time) {
			t.Errorf("record %d: id %q, time %v", i, got.ID, got.Time)
		}
		if !proto.Equal(got.Received, want.Received) || !proto.Equal(got.Returned, want.Returned) {
			t.Errorf("record %d: objects differ", i)
		}
		var gotEv, wantEv any
		_ = json.Unmarshal(got.Event, &gotEv)
		_ = json.Unmarshal(want.Event, &wantEv)
		if fmt.Sprint(gotEv) != fmt.Sprint(wantEv) {
			t.Errorf("record %d: event %s", i, got.Event)
		}
		got.ID, got.Time, got.Received, got.Returned, got.Event = "", want.Time, nil, nil, nil
		want.Received, want.Returned, want.Event = nil, nil, nil
		if a, b := mustJSON(t, &got), mustJSON(t, &want); a != b {
			t.Errorf("record %d:\n got %s\nwant %s", i, a, b)
		}
	}
	if recs[0].Text() == "" || !strings.Contains(recs[0].Text(), "→ response status 201") ||
		!strings.Contains(recs[1].Text(), "→ error: no such thing") {
		t.Errorf("text lines:\n%s\n%s", recs[0].Text(), recs[1].Text())
	}
}

// streamHolds reports whether any field of any entry contains s.
func streamHolds(t *testing.T, rdb *redis.Client, s string) bool {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for k, v := range m.Values {
			if strings.Contains(k, s) || strings.Contains(fmt.Sprint(v), s) {
				return true
			}
		}
	}
	return false
}

func TestCloseFlushesEverything(t *testing.T) {
	r := redistest.Start(t)
	w := newWriter(t, writerClient(t, r.Addr), journal.Options{Buffer: 1000, BatchSize: 64})
	objs := captures.MustDispatches(t)
	const n = 500
	for i := 0; i < n; i++ {
		if !w.Append(dispatchEntry(objs[i%len(objs)], fmt.Sprint("corr-", i))) {
			t.Fatalf("entry %d dropped with room in the buffer", i)
		}
	}
	closeWriter(t, w)
	if st := w.Stats(); st != (journal.Stats{Written: n}) {
		t.Errorf("Stats = %+v, want %d written", st, n)
	}
	recs := readAll(t, r.Client)
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, rec := range recs {
		if rec.CorrelationID != fmt.Sprint("corr-", i) {
			t.Fatalf("record %d has correlation id %q: out of order", i, rec.CorrelationID)
		}
	}
	if w.Append(dispatchEntry(objs[0], "late")) {
		t.Error("Append after Close accepted an entry")
	}
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("Append after Close: Stats = %+v, want 1 dropped", st)
	}
}

func TestStreamStaysBounded(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	// Approximate trimming removes whole stream nodes; small nodes make
	// the bound tight.
	const node = 10
	if err := r.Client.ConfigSet(ctx, "stream-node-max-entries", fmt.Sprint(node)).Err(); err != nil {
		t.Fatal(err)
	}
	const maxLen, n = 50, 1000
	w := newWriter(t, writerClient(t, r.Addr), journal.Options{MaxLen: maxLen, Buffer: n})
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Pre, false))
	for i := 0; i < n; i++ {
		w.Append(dispatchEntry(o, fmt.Sprint("corr-", i)))
	}
	closeWriter(t, w)
	length, err := r.Client.XLen(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	if length < maxLen || length > maxLen+node {
		t.Errorf("stream length %d after %d entries, want about %d", length, n, maxLen)
	}
	recs := readAll(t, r.Client)
	if last := recs[len(recs)-1].CorrelationID; last != fmt.Sprint("corr-", n-1) {
		t.Errorf("newest record is %q: trimming kept the wrong end", last)
	}
}

func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	// Writes wait while Redis is paused: the writer's first batch hangs
	// and the buffer fills.
	if err := r.Client.Do(ctx, "CLIENT", "PAUSE", "8000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	unpause := func() { _ = r.Client.Do(ctx, "CLIENT", "UNPAUSE").Err() }
	t.Cleanup(unpause)

	const buffer, n = 4, 200
	w := newWriter(t, writerClient(t, r.Addr), journal.Options{Buffer: buffer, BatchSize: 1})
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_PostKeyAuth, true))
	accepted := 0
	var slowest time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if w.Append(dispatchEntry(o, "")) {
			accepted++
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("Append took %v: it must never wait for Redis", slowest)
	}
	// At most one batch (of one) in flight plus a full buffer.
	if accepted > buffer+1 {
		t.Errorf("%d entries accepted with a buffer of %d", accepted, buffer)
	}
	if st := w.Stats(); st.Dropped != uint64(n-accepted) {
		t.Errorf("Stats = %+v, want %d dropped", st, n-accepted)
	}

	unpause()
	closeWriter(t, w)
	if st := w.Stats(); st.Written != uint64(accepted) || st.Failed != 0 || st.Written+st.Dropped != n {
		t.Errorf("after unpause: Stats = %+v, want %d written and %d dropped", st, accepted, n-accepted)
	}
}

func TestRedisDownCostsCountedEntries(t *testing.T) {
	r := redistest.Start(t)
	// Small batches: when Close gives up on Redis, most entries are still
	// buffered.
	w := newWriter(t, writerClient(t, r.Addr), journal.Options{Buffer: 20, BatchSize: 1})
	o := captures.MustFind(t, captures.Hook(coprocess.HookType_Post, true))
	w.Append(dispatchEntry(o, "before"))
	grpctest.Eventually(t, 5*time.Second, func() bool { return w.Stats().Written == 1 }, "first entry not written")

	r.Stop()
	const n = 50
	for i := 0; i < n; i++ {
		start := time.Now()
		w.Append(dispatchEntry(o, "during"))
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Append took %v with Redis down", d)
		}
	}
	grpctest.Eventually(t, 10*time.Second, func() bool { st := w.Stats(); return st.Failed > 0 && st.Dropped > 0 },
		"no failure or drop counted with Redis down: %+v", w.Stats())

	closeWriter(t, w)
	// Every entry handed over is written, failed or dropped: none vanishes
	// uncounted, even those still buffered when Close gives up on Redis.
	if st := w.Stats(); st.Written != 1 || st.Written+st.Failed+st.Dropped != n+1 {
		t.Errorf("Stats = %+v: %d entries handed over", st, n+1)
	}
}

func TestDecode(t *testing.T) {
	obj, _ := proto.Marshal(&coprocess.Object{HookName: "h"})
	now := time.Now().UTC().Format(time.RFC3339Nano)
	tests := []struct {
		name    string
		values  map[string]any
		wantErr string
	}{
		{"minimal", map[string]any{"record": `{"time":"` + now + `","kind":"dispatch"}`}, ""},
		{"full", map[string]any{"record": `{"time":"` + now + `","kind":"dispatch","status":200,"duration_us":7}`, "received": string(obj)}, ""},
		{"no record", map[string]any{"time": now, "kind": "dispatch"}, "no record field"},
		{"bad record", map[string]any{"record": `{"time":`}, "record"},
		{"bad time", map[string]any{"record": `{"time":"yesterday","kind":"dispatch"}`}, "time"},
		{"bad status", map[string]any{"record": `{"time":"` + now + `","status":"OK"}`}, "status"},
		{"bad received", map[string]any{"record": `{"time":"` + now + `"}`, "received": "\xff\xff"}, "received"},
		{"bad returned", map[string]any{"record": `{"time":"` + now + `"}`, "returned": "\xff\xff"}, "returned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := journal.Decode(redis.XMessage{ID: "1-0", Values: tt.values})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "1-0") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one naming the entry and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "full" && (rec.Status != 200 || rec.DurationUS != 7 || rec.Received.GetHookName() != "h") {
				t.Errorf("record = %+v", rec)
			}
		})
	}
}

// TestRecordEscaping: summary values come from clients; whatever they hold,
// the record stays valid JSON and reads back as sent (invalid UTF-8
// replaced).
func TestRecordEscaping(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	w := journal.NewWriter(rdb, journal.Options{Linger: -1})
	// An Object's strings are valid UTF-8 (gRPC refuses others): the
	// correlation id alone is also tried with invalid UTF-8.
	paths := []string{`/plain?a=b`, `/q"uote\back`, "/ctl\x00\n\t", "/é<>&", "/bad\xff"}
	for _, p := range paths {
		w.Append(&journal.Record{Time: time.Now(), Kind: journal.KindDispatch, CorrelationID: p,
			Path: strings.ToValidUTF8(p, "?"), Method: "GET"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := rdb.XRange(ctx, journal.DefaultStream, "-", "+").Result()
	if err != nil || len(msgs) != len(paths) {
		t.Fatalf("XRANGE: %d entries, %v", len(msgs), err)
	}
	for i, m := range msgs {
		rec, err := journal.Decode(m)
		if err != nil {
			t.Fatalf("%q: %v (record %q)", paths[i], err, m.Values["record"])
		}
		want := strings.ToValidUTF8(paths[i], "\uFFFD")
		if rec.Path != strings.ToValidUTF8(paths[i], "?") || rec.CorrelationID != want || rec.Method != "GET" {
			t.Errorf("path %q came back as %q, correlation id %q", paths[i], rec.Path, rec.CorrelationID)
		}
	}
}

func TestSessionOf(t *testing.T) {
	tests := []struct {
		s    *coprocess.SessionState
		want string
	}{
		{nil, journal.SessionNone},
		{&coprocess.SessionState{}, journal.SessionEmpty},
		{&coprocess.SessionState{Rate: 1, Monitor: &coprocess.Monitor{}}, journal.SessionEmpty},
		{&coprocess.SessionState{KeyId: "k"}, journal.SessionPresent},
		{&coprocess.SessionState{OrgId: "default"}, journal.SessionPresent},
		{&coprocess.SessionState{AccessRights: map[string]*coprocess.AccessDefinition{"a": {}}}, journal.SessionPresent},
	}
	for i, tt := range tests {
		if got := journal.SessionOf(tt.s); got != tt.want {
			t.Errorf("case %d: SessionOf = %q, want %q", i, got, tt.want)
		}
	}
	// And on the captures: keyless Response hooks get an all-zero session.
	for _, o := range captures.MustDispatches(t) {
		want := journal.SessionNone
		switch {
		case o.GetSession() != nil && o.GetSession().GetKeyId() != "":
			want = journal.SessionPresent
		case o.GetSession() != nil:
			want = journal.SessionEmpty
		}
		if got := journal.SessionOf(o.GetSession()); got != want {
			t.Errorf("%s %s: SessionOf = %q, want %q", o.GetHookType(), o.GetRequest().GetRequestUri(), got, want)
		}
	}
}

func mustJSON(t *testing.T, r *journal.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogValueIsTheJSON: a Record logs as the same object as its JSON.
func TestLogValueIsTheJSON(t *testing.T) {
	recs := []*journal.Record{
		{Time: time.Now(), Kind: journal.KindDispatch, HookType: "Response", HookName: "h", APIID: "a", OrgID: "o",
			Method: "GET", Path: "/p?q=\"1\"", Status: 200, Session: journal.SessionPresent, Key: "redacted:sha256:x",
			CorrelationID: "c", DurationUS: 3, Changes: []string{"set_headers X", "body changed"}, Error: "e"},
		{Time: time.Now(), Kind: journal.KindEvent, EventType: "AuthFailure", APIID: "a", Event: json.RawMessage(`{"k":[1,"é"]}`)},
		{Kind: journal.KindDispatch},
	}
	for i, r := range recs {
		var buf strings.Builder
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "r", r)
		var line struct{ R json.RawMessage }
		if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
			t.Fatal(err)
		}
		var got, want any
		_ = json.Unmarshal(line.R, &got)
		_ = json.Unmarshal(r.JSON(), &want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("record %d logs as\n%s\nits JSON is\n%s", i, line.R, r.JSON())
		}
	}
}

// The -objects line (`plugin-server journal -objects`, `make capture`) reads
// back as the record it was written from.
func TestJSONWithObjectsRoundTrip(t *testing.T) {
	rec := &journal.Record{Kind: journal.KindDispatch, HookType: "Pre", HookName: "MyPreRequestPlugin", Changes: []string{"body changed"},
		Received: &coprocess.Object{HookName: "MyPreRequestPlugin", Request: &coprocess.MiniRequestObject{Body: "a", Headers: map[string]string{"A": "1"}}},
		Returned: &coprocess.Object{HookName: "MyPreRequestPlugin", Request: &coprocess.MiniRequestObject{Body: "b"}}}
	line, err := rec.JSONWithObjects()
	if err != nil {
		t.Fatal(err)
	}
	got, err := journal.ParseJSONWithObjects(line)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Received, rec.Received) || !proto.Equal(got.Returned, rec.Returned) || got.HookName != rec.HookName || got.Changes[0] != "body changed" {
		t.Errorf("read back %+v from\n%s", got, line)
	}
}
