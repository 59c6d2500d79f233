package inspector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

// summary is a request as the list shows it (and as its filters search).
type summary struct {
	// Key names the request uniquely; ID is what the URL names it by: the
	// correlation id, else the trace id, else Key.
	Key       string    `json:"key"`
	ID        string    `json:"id"`
	GroupedBy string    `json:"grouped_by"`
	Time      time.Time `json:"time"`
	APIID     string    `json:"api_id,omitempty"`
	Method    string    `json:"method,omitempty"`
	Path      string    `json:"path,omitempty"`
	Hooks     []hook    `json:"hooks"`
	Events    []string  `json:"events,omitempty"`
	// Status is the client's answer as far as the records tell (a hook's
	// error, its return_overrides, the Response hook's status), with
	// where it comes from; 0 when they do not tell.
	Status       int    `json:"status,omitempty"`
	StatusSource string `json:"status_source,omitempty"`
	Errors       int    `json:"errors,omitempty"`
	// Replicas are the plugin servers that served it (hostnames), when
	// the journal names them.
	Replicas []string `json:"replicas,omitempty"`
	TraceID  string   `json:"trace_id,omitempty"`
	TraceURL string   `json:"trace_url,omitempty"`
	// Undecodable is why the stream entry could not be read.
	Undecodable string `json:"undecodable,omitempty"`
	// Search is the text the text filter searches, lower case.
	Search string `json:"search"`
}

// hook is one record in a summary.
type hook struct {
	Kind    string `json:"kind"`
	Type    string `json:"type,omitempty"`
	Name    string `json:"name,omitempty"`
	Changes int    `json:"changes,omitempty"`
	Error   bool   `json:"error,omitempty"`
}

var returnOverrides = regexp.MustCompile(`^return_overrides (\d+)$`)

// summary is r's summary, computed once for each set of entries; called
// with in.mu held.
func (in *Inspector) summary(r *request) *summary {
	if r.cached == nil {
		s := in.summarize(r)
		r.cached = &s
	}
	return r.cached
}

func (in *Inspector) summarize(r *request) summary {
	first := &r.entries[0].rec
	s := summary{Key: r.key, ID: r.key, GroupedBy: r.groupBy, Time: first.Time}
	if r.group != "" {
		s.ID = r.group
	}
	words := []string{r.group, r.key}
	for _, e := range r.entries {
		rec := &e.rec
		if e.bad != "" {
			s.Undecodable = e.bad
			s.Hooks = append(s.Hooks, hook{Kind: "undecodable"})
			words = append(words, e.bad)
			continue
		}
		words = append(words, rec.APIID, rec.Method, rec.Path, rec.HookType, rec.HookName, rec.EventType, rec.Error, rec.TraceID)
		words = append(words, rec.Changes...)
		if s.APIID == "" {
			s.APIID = rec.APIID
		}
		if rec.TraceID != "" && s.TraceID == "" && rec.Kind == journal.KindDispatch {
			s.TraceID = rec.TraceID
		}
		if rec.Replica != "" && !slices.Contains(s.Replicas, rec.Replica) {
			s.Replicas = append(s.Replicas, rec.Replica)
		}
		if rec.Kind == journal.KindEvent {
			s.Events = append(s.Events, rec.EventType)
			s.Hooks = append(s.Hooks, hook{Kind: string(rec.Kind), Type: rec.EventType, Error: rec.Error != ""})
			continue
		}
		if s.Method == "" {
			s.Method, s.Path = rec.Method, rec.Path
		}
		s.Hooks = append(s.Hooks, hook{Kind: string(rec.Kind), Type: rec.HookType, Name: rec.HookName, Changes: len(rec.Changes), Error: rec.Error != ""})
		switch {
		case s.StatusSource == "hook error" || s.StatusSource == "return_overrides":
			// The first answer given stands.
		case rec.Error != "":
			s.Errors++
			s.Status, s.StatusSource = http.StatusInternalServerError, "hook error"
			if rec.HookType == "CustomKeyCheck" {
				s.Status = http.StatusForbidden
			}
		case rec.Status != 0:
			s.Status, s.StatusSource = rec.Status, "upstream"
		}
		for _, c := range rec.Changes {
			if m := returnOverrides.FindStringSubmatch(c); m != nil && s.StatusSource != "hook error" {
				s.Status, _ = strconv.Atoi(m[1])
				s.StatusSource = "return_overrides"
			}
		}
	}
	if s.TraceID != "" && in.opts.TraceURL != "" {
		s.TraceURL = strings.ReplaceAll(in.opts.TraceURL, "{trace_id}", s.TraceID)
	}
	s.Search = strings.ToLower(strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " "))
	return s
}

// detail is /api/request's answer: the request and each of its records in
// full.
type detail struct {
	summary
	// Gateway is the gateway version the model's predictions are for
	// ("" for the newest plugintest knows).
	Gateway string         `json:"gateway"`
	Records []recordDetail `json:"records"`
}

// recordDetail is one record of a request, redacted.
type recordDetail struct {
	// Record is the journal record's JSON.
	Record json.RawMessage `json:"record,omitempty"`
	// OffsetUS is its start after the request's first record's.
	OffsetUS int64 `json:"offset_us"`
	// Received and Returned are the objects as protobuf JSON; Returned is
	// absent when the hook returned the object unchanged (or failed).
	Received json.RawMessage `json:"received,omitempty"`
	Returned json.RawMessage `json:"returned,omitempty"`
	// Prediction is what the gateway does with the returned object,
	// according to plugintest's model.
	Prediction *prediction `json:"prediction,omitempty"`
	// Problem says why a record is shown in part: no longer in Redis, or
	// not decodable.
	Problem string `json:"problem,omitempty"`
}

// prediction is gatewaymodel.Result in JSON.
type prediction struct {
	Upstream    *httpMessage `json:"upstream,omitempty"`
	Client      *httpMessage `json:"client,omitempty"`
	AuthFailure bool         `json:"auth_failure,omitempty"`
	Dropped     bool         `json:"dropped,omitempty"`
	// Session is the key's session a CustomKeyCheck made, redacted, and
	// SessionReused until when the gateway reuses it (RFC 3339).
	Session       json.RawMessage `json:"session,omitempty"`
	SessionReused string          `json:"session_reused,omitempty"`
	// Warnings are the model's (gatewaymodel.Result.Warnings).
	Warnings []string `json:"warnings,omitempty"`
	// Truncated is true when a body the model read was cut by the
	// journal: the body predicted is cut too.
	Truncated bool `json:"truncated,omitempty"`
}

type httpMessage struct {
	Method string              `json:"method,omitempty"`
	URL    string              `json:"url,omitempty"`
	Status int                 `json:"status,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
	Body   string              `json:"body,omitempty"`
	// BodyBase64 is true when Body is base64: it was not UTF-8.
	BodyBase64 bool `json:"body_base64,omitempty"`
}

// detail reads the request's records from Redis.
func (in *Inspector) detail(ctx context.Context, s summary, ids []string) (*detail, error) {
	pipe := in.opts.Redis.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.XRange(ctx, in.opts.Stream, id, id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	d := &detail{summary: s, Gateway: in.gateway.get(ctx), Records: make([]recordDetail, 0, len(ids))}
	for i, cmd := range cmds {
		msgs, _ := cmd.Result()
		if len(msgs) == 0 {
			d.Records = append(d.Records, recordDetail{Problem: fmt.Sprintf("journal entry %s is no longer in Redis (trimmed, or Redis restarted)", ids[i])})
			continue
		}
		d.Records = append(d.Records, in.recordDetail(msgs[0], s.Time, d.Gateway))
	}
	return d, nil
}

func (in *Inspector) recordDetail(m redis.XMessage, start time.Time, gateway string) recordDetail {
	rec, err := journal.Decode(m)
	if err != nil {
		return recordDetail{Problem: err.Error(), Record: undecodable(m)}
	}
	rd := recordDetail{OffsetUS: rec.Time.Sub(start).Microseconds()}
	redactRecord(&rec)
	received, returned := rec.Received, rec.Returned
	rec.Received, rec.Returned = nil, nil
	rd.Record = rec.JSON()
	rd.Received, rd.Returned = objectJSON(received), objectJSON(returned)
	if received != nil && rec.Kind == journal.KindDispatch {
		rd.Prediction = predict(gateway, &rec, received, returned)
	}
	return rd
}

// redactSummary redacts again what a record says outside its objects and
// event, its path and key (a journal written with redaction off shows no
// secret here either; redacting twice changes nothing), and returns the
// redactor of its objects' secrets.
func redactSummary(rec *journal.Record) redact.Redactor {
	red := redact.For(redact.Options{MaxBody: -1}, rec.Received, rec.Returned)
	if rec.Received != nil {
		rec.Path = red.RequestURI(rec.Received)
	}
	rec.Key = red.Fingerprint(rec.Key)
	return red
}

// redactRecord redacts a whole record again: its summary, its objects and
// its event.
func redactRecord(rec *journal.Record) {
	red := redactSummary(rec)
	rec.Received, rec.Returned = red.Object(rec.Received), red.Object(rec.Returned)
	if len(rec.Event) > 0 {
		if ev, err := redact.ParseEvent(rec.Event); err == nil {
			rec.Event, _ = json.Marshal(redact.Event(ev))
		}
	}
}

// undecodable shows what an entry holds, its fields cut short: enough to
// recognise it, never a page of binary.
func undecodable(m redis.XMessage) json.RawMessage {
	fields := map[string]string{"id": m.ID}
	for k, v := range m.Values {
		s := fmt.Sprint(v)
		if !utf8.ValidString(s) {
			s = fmt.Sprintf("(%d bytes, not text)", len(s))
		} else if len(s) > 200 {
			s = s[:200] + redact.TruncatedMark
		}
		fields[k] = s
	}
	b, _ := json.Marshal(fields)
	return b
}

func objectJSON(o *coprocess.Object) json.RawMessage {
	if o == nil {
		return nil
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(o)
	if err != nil {
		return nil
	}
	return b
}

// predict runs plugintest's model of the gateway on the redacted objects.
func predict(gateway string, rec *journal.Record, received, returned *coprocess.Object) *prediction {
	var err error
	if rec.Error != "" {
		err = errors.New(rec.Error)
	} else if returned == nil {
		returned = received // unchanged
	}
	res := gatewaymodel.ApplyFor(gateway, received, returned, err)
	p := &prediction{AuthFailure: res.AuthFailure, Dropped: res.Dropped, Warnings: res.Warnings}
	if !res.SessionReused.IsZero() {
		p.SessionReused = res.SessionReused.UTC().Format(time.RFC3339)
	}
	if u := res.Upstream; u != nil {
		p.Upstream = message(u.Body)
		p.Upstream.Method, p.Upstream.URL, p.Upstream.Header = u.Method, u.URL.String(), u.Header
	}
	if c := res.Client; c != nil {
		p.Client = message(c.Body)
		p.Client.Status, p.Client.Header = c.Status, c.Header
	}
	if res.Session != nil {
		p.Session, _ = protojson.MarshalOptions{UseProtoNames: true}.Marshal(res.Session)
	}
	for _, o := range []*coprocess.Object{received, returned} {
		if strings.HasSuffix(string(o.GetRequest().GetRawBody()), redact.TruncatedMark) ||
			strings.HasSuffix(string(o.GetResponse().GetRawBody()), redact.TruncatedMark) {
			p.Truncated = true
		}
	}
	return p
}

func message(body []byte) *httpMessage {
	if utf8.Valid(body) {
		return &httpMessage{Body: string(body)}
	}
	return &httpMessage{Body: base64.StdEncoding.EncodeToString(body), BodyBase64: true}
}

// gatewayVersion asks the gateway's /hello for its version, at most once a
// minute (a recreated gateway may be another version).
type gatewayVersion struct {
	url string

	mu      sync.Mutex
	version string
	asked   time.Time
}

var versionPattern = regexp.MustCompile(`^v?\d+\.\d+\.\d+`)

func (g *gatewayVersion) get(ctx context.Context) string {
	if g.url == "" {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.asked) < time.Minute {
		return g.version
	}
	g.asked = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(g.url, "/")+"/hello", nil)
	if err != nil {
		return g.version
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return g.version
	}
	defer resp.Body.Close()
	var hello struct {
		Version string `json:"version"`
	}
	if json.NewDecoder(resp.Body).Decode(&hello) == nil && versionPattern.MatchString(hello.Version) {
		g.version = hello.Version
	}
	return g.version
}
