package logwriter

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// NewHandler returns the plugin server's log handler: slog's JSON handler
// writing to w, but for a log record whose one attribute is a
// *journal.Record (the instrumentation's line per dispatch and event),
// which it writes with the Record's own JSON, the bytes the journal stores:
// one encoding per dispatch for both, and one schema. The line is the one
// slog's JSON handler writes (TestHandlerWritesWhatJSONHandlerWrites).
func NewHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	h := &handler{JSONHandler: slog.NewJSONHandler(w, opts), w: w}
	// Options that change the line's shape: slog's handler writes it all.
	h.plain = opts.AddSource || opts.ReplaceAttr != nil
	return h
}

type handler struct {
	*slog.JSONHandler
	w     io.Writer
	plain bool
}

// maxPooled bounds the line buffers kept for reuse.
const maxPooled = 64 << 10

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	key, rec := journalRecord(r)
	if h.plain || rec == nil {
		return h.JSONHandler.Handle(ctx, r)
	}
	bp := lineBufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	if !r.Time.IsZero() {
		b = append(b, `"time":"`...)
		b = r.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = appendString(b, r.Level.String())
	b = append(b, `,"msg":`...)
	b = appendString(b, r.Message)
	b = append(b, ',')
	b = appendString(b, key)
	b = append(b, ':')
	b = append(b, rec.JSON()...)
	b = append(b, "}\n"...)
	_, err := h.w.Write(b)
	if cap(b) <= maxPooled { // an event's large payload is not kept
		*bp = b
		lineBufs.Put(bp)
	}
	return err
}

// journalRecord returns the attribute of r when it is its only one and a
// *journal.Record.
func journalRecord(r slog.Record) (key string, rec *journal.Record) {
	if r.NumAttrs() != 1 {
		return "", nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindLogValuer {
			rec, _ = a.Value.Any().(*journal.Record)
			key = a.Key
		}
		return false
	})
	return key, rec
}

// appendString appends s as a JSON string: as it is when it needs no
// escaping (the lab's messages and keys), else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
