package journal

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Options configure a Writer.
type Options struct {
	Stream string
	// MaxLen bounds the stream (approximate trimming, the cheap kind).
	MaxLen int64
	// Buffer is how many entries may wait for Redis before new ones are
	// dropped.
	Buffer int
	// BatchSize is how many entries go to Redis in one pipeline.
	BatchSize int
	// Linger is how long the writer lets entries gather after the first
	// one of a batch arrives (DefaultLinger when zero, none when
	// negative). It keeps the journal's cost per dispatch low under load:
	// one Redis round trip, and one wake-up of the writer and of Redis,
	// per batch rather than per entry. Entries reach Redis that much later.
	Linger time.Duration
	Logger *slog.Logger
}

// Stats count what became of the entries handed to a Writer.
type Stats struct {
	Written uint64 // stored in Redis
	Dropped uint64 // buffer full or writer closed
	Failed  uint64 // Redis refused or was unreachable
}

// Writer appends entries to a Redis Stream asynchronously, through a bounded
// buffer: a slow or absent Redis costs dropped journal entries, counted and
// logged, never a slower Dispatch.
type Writer struct {
	rdb  redis.UniversalClient
	opts Options
	log  *slog.Logger

	// entries holds rendered entries, waiting for Redis.
	entries chan *record
	stop    chan struct{}
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once

	// xadd is the start of every command, boxed once.
	xadd []any

	written, dropped, failed atomic.Uint64
	lastWarn                 atomic.Int64 // unix nanos of the last drop/failure warning
}

// DefaultLinger is Options.Linger's default: entries reach Redis at most
// 20 ms later, and a busy plugin server makes a few dozen round trips to
// Redis a second instead of thousands.
const DefaultLinger = 20 * time.Millisecond

// retryPause is how long the writer waits after Redis failed before trying
// again; entries arriving meanwhile wait in the buffer or are dropped.
const retryPause = time.Second

// warnEvery rate-limits the warnings about dropped or failed entries.
const warnEvery = 10 * time.Second

// NewWriter starts a writer; Close stops it.
func NewWriter(rdb redis.UniversalClient, opts Options) *Writer {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 10000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		rdb:     rdb,
		opts:    opts,
		log:     opts.Logger,
		entries: make(chan *record, opts.Buffer),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		xadd:    []any{"xadd", opts.Stream},
	}
	if opts.MaxLen > 0 {
		w.xadd = append(w.xadd, "maxlen", "~", opts.MaxLen)
	}
	w.xadd = append(w.xadd, "*")
	go w.run()
	return w
}

// Append encodes r and queues it without ever blocking; it reports false
// when the entry was dropped. Encoding happens at once, on the caller's
// goroutine: its cost is spread evenly over the calls rather than paid in
// bursts on the writer's goroutine, and the journal keeps no reference to r
// or its objects. r must already be redacted and its bodies cut.
func (w *Writer) Append(r *Record) bool {
	// Rendering what cannot be queued would be wasted.
	if w.closing.Load() || len(w.entries) == cap(w.entries) {
		return w.drop()
	}
	e, err := w.encode(r)
	if err != nil {
		recycle(e)
		w.failed.Add(1)
		w.warn("journal: cannot encode a record: entry lost", "error", err)
		return false
	}
	select {
	case w.entries <- e:
		return true
	default:
		recycle(e)
		return w.drop()
	}
}

func (w *Writer) drop() bool {
	n := w.dropped.Add(1)
	if !w.closing.Load() {
		w.warn("journal buffer full: entries dropped", "dropped_total", n)
	}
	return false
}

// Stats returns the counters so far.
func (w *Writer) Stats() Stats {
	return Stats{Written: w.written.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load()}
}

// Close stops accepting entries and writes what is buffered, giving up when
// ctx ends. Call it after the gRPC server has stopped.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.closing.Store(true)
		close(w.stop)
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	st := w.Stats()
	w.log.Info("journal closed", "written", st.Written, "dropped", st.Dropped, "failed", st.Failed)
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]*record, 0, w.opts.BatchSize)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case e := <-w.entries:
			w.linger(linger)
			batch = w.fill(append(batch[:0], e))
			if !w.flush(batch) {
				w.pause()
			}
		case <-w.stop:
			for {
				batch = w.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				if !w.flush(batch) {
					w.dropBuffered()
					return
				}
			}
		}
	}
}

// dropBuffered counts what is still buffered as dropped, when Close gives
// up on Redis: every entry handed over must show in Stats.
func (w *Writer) dropBuffered() {
	for {
		select {
		case r := <-w.entries:
			recycle(r)
			w.dropped.Add(1)
		default:
			return
		}
	}
}

// linger lets a batch gather: it waits up to Options.Linger, less when a
// batch is already waiting or the writer is being closed.
func (w *Writer) linger(t *time.Timer) {
	if w.opts.Linger < 0 || len(w.entries) >= w.opts.BatchSize-1 {
		return
	}
	t.Reset(w.opts.Linger)
	select {
	case <-t.C:
	case <-w.stop:
		t.Stop()
	}
}

// fill adds what is already waiting, up to a batch.
func (w *Writer) fill(batch []*record) []*record {
	for len(batch) < w.opts.BatchSize {
		select {
		case e := <-w.entries:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// pause waits after a failure, unless the writer is being closed.
func (w *Writer) pause() {
	t := time.NewTimer(retryPause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.stop:
	}
}

// flush writes a batch in one pipeline and reports whether Redis took it.
// Either way, the batch's records go back to the pool.
func (w *Writer) flush(batch []*record) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer func() {
		for i, r := range batch {
			recycle(r)
			batch[i] = nil
		}
	}()
	pipe := w.rdb.Pipeline()
	for _, r := range batch {
		pipe.Do(ctx, r.args...)
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		n := w.failed.Add(uint64(len(batch)))
		w.warn("journal write to Redis failed: entries lost", "error", err, "failed_total", n)
		return false
	}
	w.written.Add(uint64(len(batch)))
	return true
}

// warn logs at most once per warnEvery, so that an outage does not flood
// the log.
func (w *Writer) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := w.lastWarn.Load()
	if now-last < int64(warnEvery) || !w.lastWarn.CompareAndSwap(last, now) {
		return
	}
	w.log.Warn(msg, args...)
}

// record is an entry encoded as an XADD command.
type record struct {
	args []any
	// json is the Record's own JSON (Record.JSON); received and returned
	// are pooled buffers.
	json               bytesArg
	received, returned bytesArg
}

// bytesArg hands go-redis a buffer through encoding.BinaryMarshaler: boxing
// a pointer to it allocates nothing, where boxing a []byte would.
type bytesArg struct{ b []byte }

func (a *bytesArg) MarshalBinary() ([]byte, error) { return a.b, nil }

// maxPooled keeps a huge buffer (bodies stored whole) out of the pool.
const maxPooled = 64 << 10

var records = sync.Pool{New: func() any {
	return &record{args: make([]any, 0, 12)}
}}

// recycle returns a record to the pool, holding nothing of its entry.
func recycle(r *record) {
	clear(r.args)
	r.args = r.args[:0]
	r.json.b = nil
	for _, a := range []*bytesArg{&r.received, &r.returned} {
		a.b = a.b[:0]
		if cap(a.b) > maxPooled {
			a.b = nil
		}
	}
	records.Put(r)
}

// encode turns a Record into its XADD command.
func (w *Writer) encode(rec *Record) (*record, error) {
	r := records.Get().(*record)
	r.args = append(r.args, w.xadd...)
	r.json.b = rec.JSON()
	r.args = append(r.args, fieldRecord, &r.json)
	for _, o := range []struct {
		field string
		obj   *coprocess.Object
		buf   *bytesArg
	}{{fieldReceived, rec.Received, &r.received}, {fieldReturned, rec.Returned, &r.returned}} {
		if o.obj == nil {
			continue
		}
		// vtprotobuf's generated marshaler: the same bytes as proto.Marshal,
		// without protobuf-go's reflection over the maps.
		n := o.obj.SizeVT()
		o.buf.b = slices.Grow(o.buf.b[:0], n)[:n]
		if _, err := o.obj.MarshalToSizedBufferVT(o.buf.b); err != nil {
			return r, err
		}
		r.args = append(r.args, o.field, o.buf)
	}
	return r, nil
}
