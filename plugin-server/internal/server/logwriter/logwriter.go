// Package logwriter buffers the plugin server's log and flushes it every few
// milliseconds: one write per dispatch into a pipe (Docker's log driver) is
// the largest per-call cost left on the gateway's request path, and lines
// reaching the log 20 ms later change nothing for a reader.
package logwriter

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// FlushInterval bounds how late a log line may be written.
const FlushInterval = 20 * time.Millisecond

// Writer is an io.Writer that batches writes to another and flushes them
// every FlushInterval and on Close. A crash loses at most the last
// FlushInterval of lines.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// New starts a Writer to w; Close stops it.
func New(w io.Writer) *Writer {
	l := &Writer{
		buf:  bufio.NewWriterSize(w, 64<<10),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.flushLoop()
	return l
}

func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Writer) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.buf.Flush()
}

func (l *Writer) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

// Close writes what is buffered and stops the flusher.
func (l *Writer) Close() {
	close(l.stop)
	<-l.done
}
