// The plugin server's log goes through a buffer flushed every few
// milliseconds: one write per dispatch into a pipe (Docker's log driver) is
// the largest per-call cost left on the gateway's request path, and lines
// reaching the log 20 ms later change nothing for a reader.
package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushInterval bounds how late a log line may be written.
const logFlushInterval = 20 * time.Millisecond

// bufferedLog is an io.Writer that batches writes to w and flushes them
// every logFlushInterval and on Close.
type bufferedLog struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	l := &bufferedLog{
		buf:  bufio.NewWriterSize(w, 64<<10),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go l.flushLoop()
	return l
}

func (l *bufferedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *bufferedLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.buf.Flush()
}

func (l *bufferedLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(logFlushInterval)
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
func (l *bufferedLog) Close() {
	close(l.stop)
	<-l.done
}
