// Tests the throwaway redis-server helper: it answers, stops on demand, and
// skips (rather than fails) when redis-server is missing.
package redistest

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestStartAndStop(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if err := s.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v\n%s", err, s.Log())
	}
	if v, err := s.Client.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if s.URL != "redis://"+s.Addr+"/0" {
		t.Errorf("URL = %q", s.URL)
	}

	s.Stop()
	s.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the port still accepts connections after Stop")
	}
}

func TestSkipsWithoutRedisServer(t *testing.T) {
	skipped := false
	t.Run("no redis-server on PATH", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		t.Setenv(EnvRequire, "")
		defer func() { skipped = t.Skipped() }()
		Start(t)
		t.Error("Start returned without redis-server")
	})
	if !skipped {
		t.Error("Start did not skip the test")
	}
}
