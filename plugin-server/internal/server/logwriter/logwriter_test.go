// Tests that buffered log lines reach the output within the flush interval
// and all of them on Close.
package logwriter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/logwriter"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
)

func TestFlushes(t *testing.T) {
	var out grpctest.Log
	l := logwriter.New(&out)
	l.Write([]byte("first\n"))
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "first") {
		if time.Now().After(deadline) {
			t.Fatal("a log line was not flushed within 2s")
		}
		time.Sleep(logwriter.FlushInterval / 4)
	}
	l.Write([]byte("last\n"))
	l.Close()
	if got := out.String(); got != "first\nlast\n" {
		t.Fatalf("after Close the output is %q", got)
	}
}
