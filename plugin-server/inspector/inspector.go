// Package inspector is the lab's web page of the journal: a live list of
// the client requests the plugin server saw, each opening into the story
// of its hooks — what each received and returned, what it changed, and
// what the gateway then does with it (gatewaymodel's prediction) — with the
// events the request caused.
//
// It reads the journal's Redis Stream: the newest records (at most
// Options.MaxRecords, summaries only) are kept in memory and grouped into
// requests; a request's objects are read from Redis when it is opened. It
// shows only what the journal holds, redacted again on the way out, so a
// journal written with redaction off shows no secret either. Plain HTML,
// CSS and JavaScript, embedded: no build step, no CDN.
package inspector

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

//go:embed web
var web embed.FS

// Options configure an Inspector.
type Options struct {
	Redis  *redis.Client
	Stream string
	// MaxRecords bounds what is kept in memory (journal.DefaultMaxLen
	// when zero, the journal's own bound).
	MaxRecords int
	// TraceURL, when set, links each traced request to its trace:
	// "{trace_id}" is replaced, e.g.
	// http://127.0.0.1:16686/trace/{trace_id} for Jaeger.
	TraceURL string
	// GatewayURL, when set, is asked (/hello) for the gateway's version,
	// so that the model predicts what that version does.
	GatewayURL string
	Logger     *slog.Logger
}

// Inspector serves the page and keeps its index current.
type Inspector struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	idx     *index
	last    string // the newest stream id read
	status  Status
	subs    map[chan event]struct{}
	gateway gatewayVersion
}

// Status is the inspector's connection to the journal.
type Status struct {
	// Redis is "connected" or "unreachable".
	Redis string `json:"redis"`
	// Error is why Redis is unreachable.
	Error string `json:"error,omitempty"`
	// Since is when Redis became what it is.
	Since time.Time `json:"since"`
	// Reconnected is true once Redis came back after being unreachable.
	Reconnected bool `json:"reconnected,omitempty"`
	// Records is how many journal records the inspector holds, Max its
	// bound.
	Records int `json:"records"`
	Max     int `json:"max"`
}

// liveRequest is the data of a "request" event: a request new or
// changed, and how many records the inspector now holds.
type liveRequest struct {
	Request *summary `json:"request"`
	Records int      `json:"records"`
}

// event is one server-sent event.
type event struct {
	name string
	data []byte
}

// New makes an Inspector; Run keeps it current.
func New(opts Options) *Inspector {
	if opts.Stream == "" {
		opts.Stream = journal.DefaultStream
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = journal.DefaultMaxLen
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Inspector{
		opts:    opts,
		log:     opts.Logger,
		idx:     newIndex(opts.MaxRecords),
		status:  Status{Redis: "connecting", Since: time.Now()},
		subs:    map[chan event]struct{}{},
		gateway: gatewayVersion{url: opts.GatewayURL},
	}
}

// Timeouts of the journal reads. A blocking read waits at most block for
// new records; Redis gone, the inspector tries again every retry.
const (
	block = 2 * time.Second
	retry = time.Second
	// batch is how many records one read takes.
	batch = 1000
)

// Run reads the journal until ctx ends: first the newest records, then
// each new one as it is written. When Redis is unreachable it says so and
// tries again; it never gives up.
func (in *Inspector) Run(ctx context.Context) error {
	loaded := false
	for ctx.Err() == nil {
		var err error
		if !loaded {
			err = in.load(ctx)
			loaded = err == nil
		} else {
			err = in.follow(ctx)
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			in.setStatus(err)
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			continue
		}
		in.setStatus(nil)
	}
	return nil
}

// load reads the newest MaxRecords records.
func (in *Inspector) load(ctx context.Context) error {
	msgs, err := in.opts.Redis.XRevRangeN(ctx, in.opts.Stream, "+", "-", int64(in.opts.MaxRecords)).Result()
	if err != nil {
		return err
	}
	in.setStatus(nil)
	for i := len(msgs) - 1; i >= 0; i-- {
		in.add(msgs[i])
	}
	return nil
}

// follow reads what was written after the newest record read.
func (in *Inspector) follow(ctx context.Context) error {
	in.mu.Lock()
	last := in.last
	in.mu.Unlock()
	if last == "" {
		last = "0-0"
	}
	res, err := in.opts.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{in.opts.Stream, last}, Count: batch, Block: block}).Result()
	if err != nil {
		return err
	}
	in.setStatus(nil)
	for _, s := range res {
		for _, m := range s.Messages {
			in.add(m)
		}
	}
	return nil
}

// add files a stream entry and tells the page.
func (in *Inspector) add(m redis.XMessage) {
	e := &entry{}
	rec, err := journal.Decode(m)
	if err != nil {
		e.bad = err.Error()
	}
	rec.ID = m.ID
	// The index keeps summaries: objects and events are read again, and
	// redacted, when a request is opened.
	redactSummary(&rec)
	rec.Received, rec.Returned, rec.Event = nil, nil, nil
	e.rec = rec

	in.mu.Lock()
	r := in.idx.add(e)
	in.last = m.ID
	data, _ := json.Marshal(liveRequest{Request: in.summary(r), Records: in.idx.count})
	in.broadcast(event{"request", data})
	in.mu.Unlock()
}

// setStatus records whether the last read of Redis worked, and tells the
// page when that changed.
func (in *Inspector) setStatus(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.status
	switch {
	case err == nil && s.Redis == "connected":
		return
	case err == nil:
		if s.Redis == "unreachable" {
			in.log.Info("journal's Redis reachable again")
			s.Reconnected = true
		}
		s.Redis, s.Error, s.Since = "connected", "", time.Now()
	case s.Redis == "unreachable" && s.Error == err.Error():
		return
	default:
		if s.Redis != "unreachable" {
			in.log.Warn("journal's Redis unreachable; retrying every second", "error", err)
			s.Since = time.Now()
		}
		s.Redis, s.Error = "unreachable", err.Error()
	}
	in.status = s
	data, _ := json.Marshal(in.statusLocked())
	in.broadcast(event{"status", data})
}

func (in *Inspector) statusLocked() Status {
	s := in.status
	s.Records, s.Max = in.idx.count, in.idx.max
	return s
}

// broadcast sends ev to every page listening. A page too slow to keep up
// is dropped: its browser reconnects and reloads the list.
func (in *Inspector) broadcast(ev event) {
	for ch := range in.subs {
		select {
		case ch <- ev:
		default:
			delete(in.subs, ch)
			close(ch)
		}
	}
}

// Handler serves the page, its API and its live updates.
func (in *Inspector) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(web, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/requests", in.serveRequests)
	mux.HandleFunc("GET /api/request", in.serveRequest)
	mux.HandleFunc("GET /api/live", in.serveLive)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	return securityHeaders(mux)
}

// securityHeaders: the page loads nothing from elsewhere, and journal
// content (headers, bodies a client chose) can never run as script.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// pageSize is how many requests one page of the list holds.
const pageSize = 100

// requestList is /api/requests' answer.
type requestList struct {
	Requests []summary `json:"requests"`
	// More is true when older requests match too: ask with before set to
	// the last one's key.
	More   bool     `json:"more"`
	Status Status   `json:"status"`
	APIs   []string `json:"apis"`
	Hooks  []string `json:"hooks"`
}

func (in *Inspector) serveRequests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := pageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			http.Error(w, "limit: a number from 1 to 1000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	f := filter{api: q.Get("api"), hook: q.Get("hook"), text: q.Get("q")}
	in.mu.Lock()
	page, more := in.idx.page(f, q.Get("before"), limit, in.summary)
	out := requestList{Requests: make([]summary, 0, len(page)), More: more, Status: in.statusLocked()}
	for _, s := range page {
		out.Requests = append(out.Requests, *s)
	}
	out.APIs, out.Hooks = in.idx.names()
	in.mu.Unlock()
	writeJSON(w, out)
}

func (in *Inspector) serveRequest(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	in.mu.Lock()
	req := in.idx.find(id)
	var s summary
	var ids []string
	if req != nil {
		s = *in.summary(req)
		for _, e := range req.entries {
			ids = append(ids, e.rec.ID)
		}
	}
	in.mu.Unlock()
	if req == nil {
		http.Error(w, fmt.Sprintf("no request %q among the %d newest journal records", id, in.opts.MaxRecords), http.StatusNotFound)
		return
	}
	d, err := in.detail(r.Context(), s, ids)
	if err != nil {
		http.Error(w, "reading the journal: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, d)
}

// serveLive streams the list's changes as server-sent events: "request"
// (a liveRequest) when a request is new or got another record, "status"
// (a Status) when Redis comes or goes.
func (in *Inspector) serveLive(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan event, 1024)
	in.mu.Lock()
	in.subs[ch] = struct{}{}
	status, _ := json.Marshal(in.statusLocked())
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		if _, ok := in.subs[ch]; ok {
			delete(in.subs, ch)
			close(ch)
		}
		in.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	// The browser reconnects after a second when the stream ends.
	fmt.Fprintf(w, "retry: 1000\nevent: status\ndata: %s\n\n", status)
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case ev, ok := <-ch:
			if !ok {
				return // too slow: the browser reconnects and reloads
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
		}
		flusher.Flush()
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
