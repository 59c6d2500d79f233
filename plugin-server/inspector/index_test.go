package inspector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// rec is a dispatch ("Pre/MyPre") or an event ("event/AuthFailure") at ms
// milliseconds, with correlation id corr.
func rec(id int, ms int, hook, corr string) *entry {
	typ, name, _ := strings.Cut(hook, "/")
	r := journal.Record{ID: fmt.Sprintf("%d-0", id), Time: time.UnixMilli(int64(1e6 + ms)), APIID: "api", Method: "GET", CorrelationID: corr}
	if typ == "event" {
		r.Kind, r.EventType = journal.KindEvent, name
	} else {
		r.Kind, r.HookType, r.HookName = journal.KindDispatch, typ, name
	}
	return &entry{rec: r}
}

func withAPI(e *entry, api string) *entry { e.rec.APIID = api; return e }

// groups files the entries and shows the requests: "key:hook,hook…" each.
func groups(x *index, es ...*entry) string {
	for _, e := range es {
		x.add(e)
	}
	var out []string
	for _, r := range x.requests {
		var hooks []string
		for _, e := range r.entries {
			hooks = append(hooks, e.rec.HookName+e.rec.EventType)
		}
		out = append(out, r.groupBy+":"+strings.Join(hooks, ","))
	}
	return strings.Join(out, " | ")
}

func TestGrouping(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []*entry
		want string
	}{
		{"one id, lifecycle order, its event",
			[]*entry{rec(1, 0, "Pre/A", "x"), rec(2, 1, "CustomKeyCheck/B", "x"), rec(3, 2, "event/AuthFailure", "x")},
			"correlation id:A,B,AuthFailure"},
		{"an id used again starts a new request at the same hook",
			[]*entry{rec(1, 0, "Pre/A", "probe"), rec(2, 1, "Response/R", "probe"), rec(3, 5, "Pre/A", "probe"), rec(4, 6, "Response/R", "probe")},
			"correlation id:A,R | correlation id:A,R"},
		{"a chain of two Pre hooks is one request",
			[]*entry{rec(1, 0, "Pre/A", "c"), rec(2, 1, "Pre/B", "c"), rec(3, 2, "Post/P", "c")},
			"correlation id:A,B,P"},
		{"an earlier lifecycle stage starts a new request",
			[]*entry{rec(1, 0, "Post/P", "c"), rec(2, 1, "Pre/A", "c")},
			"correlation id:P | correlation id:A"},
		{"no id: by API and time, and its event joins",
			[]*entry{rec(1, 0, "Pre/A", ""), rec(2, 1, "CustomKeyCheck/B", ""), rec(3, 3, "event/AuthFailure", ""), rec(4, 10, "Pre/A", "")},
			"time:A,B,AuthFailure | time:A"},
		{"one id on two APIs: two requests",
			[]*entry{rec(1, 0, "Pre/A", "probe"), withAPI(rec(2, 1, "Pre/A", "probe"), "other")},
			"correlation id:A | correlation id:A"},
		{"no id, too far apart: two requests",
			[]*entry{rec(1, 0, "Pre/A", ""), rec(2, 6000, "Response/R", "")},
			"time:A | time:R"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := groups(newIndex(100), tc.in...); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestIndexStaysBounded(t *testing.T) {
	x := newIndex(100)
	for i := range 10000 {
		x.add(rec(i, i, "Pre/A", fmt.Sprint("id-", i/2)))
		x.add(rec(i, i, "Response/R", fmt.Sprint("id-", i/2)))
	}
	if x.count > 100 || len(x.byKey) > 100 || len(x.open) > 100 {
		t.Errorf("holds %d entries, %d requests, %d open; want at most 100", x.count, len(x.byKey), len(x.open))
	}
	if apis, hooks := x.names(); len(apis) != 1 || len(hooks) != 2 {
		t.Errorf("names: %v %v", apis, hooks)
	}
}
