// Tests that buffered log lines reach the output within the flush interval
// and all of them on Close.
package logwriter

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFlushes(t *testing.T) {
	var out syncBuffer
	l := New(&out)
	l.Write([]byte("first\n"))
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "first") {
		if time.Now().After(deadline) {
			t.Fatal("a log line was not flushed within 2s")
		}
		time.Sleep(FlushInterval / 4)
	}
	l.Write([]byte("last\n"))
	l.Close()
	if got := out.String(); got != "first\nlast\n" {
		t.Fatalf("after Close the output is %q", got)
	}
}
