package inspector

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// How records are grouped into client requests.
const (
	// ByCorrelationID: the records share the correlation header's value
	// (X-Request-Id in the lab). Exact.
	ByCorrelationID = "correlation id"
	// ByTrace: no correlation id, but one OpenTelemetry trace. Exact.
	ByTrace = "trace"
	// ByTime: neither; records of one API and method close in time are
	// taken as one request. A guess when requests overlap.
	ByTime = "time"
	// Undecodable: a stream entry the inspector could not read, alone.
	Undecodable = "undecodable"
)

// A request's records are at most this far apart, and a record with
// neither correlation id nor trace joins a request at most this long after
// its last record.
const (
	maxRequestSpan = 30 * time.Second
	maxTimeGap     = 5 * time.Second
)

// lifecycle ranks hook types in the order the gateway calls them.
var lifecycle = map[string]int{"Pre": 1, "CustomKeyCheck": 2, "PostKeyAuth": 3, "Post": 4, "Response": 5}

// entry is one journal record as the index keeps it: the record without
// its objects (they stay in Redis and are read when a request is opened),
// or, for an entry that could not be decoded, why.
type entry struct {
	rec journal.Record
	bad string
}

// request is one client request: its records in the order they were
// written.
type request struct {
	key     string // unique: "r" + the stream id of its first entry
	seq     uint64 // creation order
	groupBy string
	group   string // the correlation id or trace id grouped by
	entries []*entry
	// openKeys are the keys of index.open that named it.
	openKeys []string
	// cached is its summary, until another entry joins it.
	cached *summary
}

// index holds the newest entries of the journal, at most max, grouped into
// requests. It is not safe for concurrent use.
type index struct {
	max      int
	count    int
	seq      uint64
	requests []*request // oldest first
	byKey    map[string]*request
	open     map[string]*request // newest request of each correlation id, trace, or API+method
	// apis and hooks count the entries of each API and of each hook name
	// and event type, for the list's filters.
	apis, hooks map[string]int
}

func newIndex(max int) *index {
	return &index{max: max, byKey: map[string]*request{}, open: map[string]*request{},
		apis: map[string]int{}, hooks: map[string]int{}}
}

// count adds n (1 or -1) to the filters' counts of e.
func (x *index) countNames(e *entry, n int) {
	add := func(m map[string]int, k string) {
		if k == "" {
			return
		}
		if m[k] += n; m[k] <= 0 {
			delete(m, k)
		}
	}
	add(x.apis, e.rec.APIID)
	add(x.hooks, e.rec.HookName+e.rec.EventType)
}

// names are the APIs and the hook names and event types the index holds,
// sorted.
func (x *index) names() (apis, hooks []string) {
	return append([]string{}, slices.Sorted(maps.Keys(x.apis))...), append([]string{}, slices.Sorted(maps.Keys(x.hooks))...)
}

// add files an entry into its request and returns that request; the oldest
// requests go when the index holds more than max entries.
func (x *index) add(e *entry) *request {
	r := x.place(e)
	r.entries = append(r.entries, e)
	r.cached = nil
	x.count++
	x.countNames(e, 1)
	for x.count > x.max && len(x.requests) > 1 {
		x.evict()
	}
	return r
}

func (x *index) place(e *entry) *request {
	if e.bad != "" {
		return x.newRequest(e, Undecodable, "")
	}
	rec := &e.rec
	groupBy, group, openKey := ByTime, "", "t:"+rec.APIID+" "+rec.Method
	switch {
	case rec.CorrelationID != "":
		groupBy, group, openKey = ByCorrelationID, rec.CorrelationID, "c:"+rec.CorrelationID
	case rec.Kind == journal.KindEvent:
		// The gateway fires events outside the request's trace: an event
		// without a correlation id joins the newest request of its API
		// that had none either.
		openKey = "e:" + rec.APIID
	case rec.TraceID != "":
		groupBy, group, openKey = ByTrace, rec.TraceID, "x:"+rec.TraceID
	}
	if r := x.open[openKey]; r != nil && r.accepts(rec) {
		return r
	}
	r := x.newRequest(e, groupBy, group)
	x.setOpen(openKey, r)
	if rec.Kind == journal.KindDispatch && groupBy != ByCorrelationID {
		x.setOpen("e:"+rec.APIID, r)
	}
	return r
}

func (x *index) setOpen(key string, r *request) {
	x.open[key] = r
	r.openKeys = append(r.openKeys, key)
}

func (x *index) newRequest(e *entry, groupBy, group string) *request {
	x.seq++
	r := &request{key: "r" + e.rec.ID, seq: x.seq, groupBy: groupBy, group: group}
	x.requests = append(x.requests, r)
	x.byKey[r.key] = r
	return r
}

// accepts says whether rec belongs to r rather than to a new request: it
// is close in time, and a dispatch comes later in the lifecycle than every
// dispatch so far, or is another hook of the same type (a chain), never the
// same hook again.
func (r *request) accepts(rec *journal.Record) bool {
	first, last := r.entries[0].rec.Time, r.entries[len(r.entries)-1].rec.Time
	if rec.Time.Sub(first) > maxRequestSpan {
		return false
	}
	// A request goes through one API (a probe that reuses its id on every
	// API makes one request per API).
	if api := r.entries[0].rec.APIID; api != "" && rec.APIID != "" && rec.APIID != api {
		return false
	}
	if (r.groupBy != ByCorrelationID || rec.CorrelationID == "") && rec.Time.Sub(last) > maxTimeGap {
		return false
	}
	if rec.Kind != journal.KindDispatch {
		return true
	}
	rank := lifecycle[rec.HookType]
	for _, e := range r.entries {
		if e.rec.Kind != journal.KindDispatch {
			continue
		}
		if e.rec.HookName == rec.HookName && e.rec.HookType == rec.HookType {
			return false
		}
		if lifecycle[e.rec.HookType] > rank {
			return false
		}
	}
	return true
}

func (x *index) evict() {
	r := x.requests[0]
	x.requests[0] = nil
	x.requests = x.requests[1:]
	x.count -= len(r.entries)
	for _, e := range r.entries {
		x.countNames(e, -1)
	}
	delete(x.byKey, r.key)
	for _, k := range r.openKeys {
		if x.open[k] == r {
			delete(x.open, k)
		}
	}
}

// find returns the request a URL names: its key, or the newest request
// with that correlation id or trace id.
func (x *index) find(id string) *request {
	if r := x.byKey[id]; r != nil {
		return r
	}
	for i := len(x.requests) - 1; i >= 0; i-- {
		if r := x.requests[i]; r.group == id {
			return r
		}
	}
	return nil
}

// filter selects requests for the list: the page applies the same rules
// to the requests it is sent live (app.js, matches).
type filter struct {
	api, hook, text string
}

func (f filter) match(s *summary) bool {
	if f.api != "" && s.APIID != f.api {
		return false
	}
	if f.hook != "" && !slices.ContainsFunc(s.Hooks, func(h hook) bool { return h.Name == f.hook || h.Type == f.hook }) {
		return false
	}
	return strings.Contains(s.Search, strings.ToLower(f.text))
}

// page returns up to limit requests matching f, newest first, older than
// the request keyed before (from the newest when empty), and whether more
// match beyond them.
func (x *index) page(f filter, before string, limit int, sum func(*request) *summary) (out []*summary, more bool) {
	i := len(x.requests) - 1
	if before != "" {
		b := x.byKey[before]
		if b == nil {
			return nil, false
		}
		for i >= 0 && x.requests[i] != b {
			i--
		}
		i--
	}
	for ; i >= 0; i-- {
		s := sum(x.requests[i])
		if !f.match(s) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, s)
	}
	return out, false
}
