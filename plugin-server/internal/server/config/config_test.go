// Tests configuration loading: defaults, environment over defaults, flags
// over environment, and clear errors naming the variable or flag at fault.
package config

import (
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ListenAddr:        ":50051",
		LogLevel:          slog.LevelInfo,
		Redact:            true,
		CorrelationHeader: "X-Request-Id",
		MaxRecvBytes:      grpcserver.DefaultMaxMessageBytes,
		MaxSendBytes:      grpcserver.DefaultMaxMessageBytes,
		ShutdownTimeout:   10 * time.Second,
		JournalStream:     journal.DefaultStream,
		JournalMaxLen:     10000,
		JournalBuffer:     10000,
		JournalMaxBody:    1024,
		JournalLinger:     journal.DefaultLinger,
		DispatchTimeout:   DefaultDispatchTimeout,
		MaxAbandonedHooks: DefaultMaxAbandonedHooks,
		MaxConnectionAge:  DefaultMaxConnectionAge,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults = %+v\nwant %+v", c, want)
	}
}

func TestPrecedence(t *testing.T) {
	vars := map[string]string{
		EnvListenAddr:        "127.0.0.1:6000",
		EnvLogLevel:          "debug",
		EnvRedact:            "false",
		EnvCorrelationHeader: "X-Corr",
		EnvMaxRecvBytes:      "1000",
		EnvMaxSendBytes:      "2000",
		EnvShutdownTimeout:   "3s",
		EnvJournalRedisURL:   "redis://env:6379/1",
		EnvJournalStream:     "env:stream",
		EnvJournalMaxLen:     "50",
		EnvJournalBuffer:     "60",
		EnvJournalMaxBody:    "-1",
		EnvJournalLinger:     "0s",
		EnvDispatchTimeout:   "2s",
		EnvMaxAbandonedHooks: "7",
		EnvFailOpen:          "A, B",
		EnvMaxConnectionAge:  "0",
		EnvReplica:           "env-replica",
	}
	tests := []struct {
		name  string
		args  []string
		check func(c Config) bool
	}{
		{"environment over defaults", nil, func(c Config) bool {
			return reflect.DeepEqual(c, Config{ListenAddr: "127.0.0.1:6000", LogLevel: slog.LevelDebug, Redact: false, CorrelationHeader: "X-Corr",
				MaxRecvBytes: 1000, MaxSendBytes: 2000, ShutdownTimeout: 3 * time.Second, JournalRedisURL: "redis://env:6379/1",
				JournalStream: "env:stream", JournalMaxLen: 50, JournalBuffer: 60, JournalMaxBody: -1, JournalLinger: 0,
				DispatchTimeout: 2 * time.Second, FailOpen: []string{"A", "B"}, MaxAbandonedHooks: 7, MaxConnectionAge: 0, Replica: "env-replica"})
		}},
		{"flags over environment", []string{
			"-listen", ":7000", "-log-level", "warn", "-redact=true", "-correlation-header", "X-Flag",
			"-max-recv-bytes", "10", "-max-send-bytes", "20", "-shutdown-timeout", "1m",
			"-journal-redis-url", "redis://flag:6379/2", "-journal-stream", "flag:stream",
			"-journal-maxlen", "5", "-journal-buffer", "6", "-journal-max-body-bytes", "7",
			"-journal-linger", "5ms", "-dispatch-timeout", "0", "-fail-open", "C", "-max-abandoned-hooks", "0", "-max-connection-age", "1m", "-replica", "flag-replica",
		}, func(c Config) bool {
			return reflect.DeepEqual(c, Config{ListenAddr: ":7000", LogLevel: slog.LevelWarn, Redact: true, CorrelationHeader: "X-Flag",
				MaxRecvBytes: 10, MaxSendBytes: 20, ShutdownTimeout: time.Minute, JournalRedisURL: "redis://flag:6379/2",
				JournalStream: "flag:stream", JournalMaxLen: 5, JournalBuffer: 6, JournalMaxBody: 7, JournalLinger: 5 * time.Millisecond,
				FailOpen: []string{"C"}, MaxConnectionAge: time.Minute, Replica: "flag-replica"})
		}},
		{"one flag, the rest from the environment", []string{"-redact"}, func(c Config) bool {
			return c.Redact && c.ListenAddr == "127.0.0.1:6000" && c.JournalMaxBody == -1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(vars), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		vars    map[string]string
		wantErr []string // all must appear in the message
	}{
		{"bad integer variable", nil, map[string]string{EnvMaxRecvBytes: "32MiB"}, []string{EnvMaxRecvBytes, `"32MiB"`, "integer"}},
		{"bad boolean variable", nil, map[string]string{EnvRedact: "nope"}, []string{EnvRedact, "true or false"}},
		{"bad duration variable", nil, map[string]string{EnvShutdownTimeout: "10"}, []string{EnvShutdownTimeout, "duration"}},
		{"every bad variable reported", nil, map[string]string{EnvJournalMaxLen: "x", EnvJournalBuffer: "y"},
			[]string{EnvJournalMaxLen, EnvJournalBuffer}},
		{"bad variable overridden by a flag still fails", []string{"-journal-buffer", "5"}, map[string]string{EnvJournalBuffer: "y"},
			[]string{EnvJournalBuffer}},
		{"bad log level", nil, map[string]string{EnvLogLevel: "loud"}, []string{`"loud"`, "debug, info, warn or error"}},
		{"bad flag value", []string{"-max-send-bytes", "lots"}, nil, []string{"max-send-bytes"}},
		{"unknown flag", []string{"-no-such-flag"}, nil, []string{"no-such-flag"}},
		{"stray argument", []string{"serve"}, nil, []string{"unexpected arguments: serve"}},
		{"zero size", []string{"-max-recv-bytes", "0"}, nil, []string{"must be positive"}},
		{"zero timeout", nil, map[string]string{EnvShutdownTimeout: "0s"}, []string{"shutdown timeout"}},
		{"zero buffer", []string{"-journal-buffer", "0"}, nil, []string{"journal maxlen and buffer"}},
		{"negative linger", []string{"-journal-linger", "-1ms"}, nil, []string{"journal linger"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var usage strings.Builder
			_, err := Load(tt.args, env(tt.vars), &usage)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestHelpListsVariables(t *testing.T) {
	var usage strings.Builder
	_, err := Load([]string{"-h"}, env(nil), &usage)
	if err == nil {
		t.Fatal("-h gave no error")
	}
	for _, v := range []string{EnvListenAddr, EnvRedact, EnvJournalRedisURL, EnvJournalMaxBody} {
		if !strings.Contains(usage.String(), "$"+v) {
			t.Errorf("usage does not mention $%s", v)
		}
	}
}

// TestJournalOptions: a zero linger means none, which journal.Options
// spells as negative (its zero is the default).
func TestJournalOptions(t *testing.T) {
	for linger, want := range map[time.Duration]time.Duration{0: -1, journal.DefaultLinger: journal.DefaultLinger, time.Millisecond: time.Millisecond} {
		if got := (Config{JournalLinger: linger}).JournalOptions(nil).Linger; got != want {
			t.Errorf("JournalLinger %v: Options.Linger = %v, want %v", linger, got, want)
		}
	}
}
