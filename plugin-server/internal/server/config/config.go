// Package config reads the plugin server's settings from flags and
// environment variables. Every setting has both; a flag wins over its
// variable, and the variable over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

// Environment variables, one per setting.
const (
	// EnvListenAddr is the gRPC listen address (flag -listen).
	EnvListenAddr = "PLUGIN_LISTEN_ADDR"
	// EnvLogLevel is debug, info, warn or error (flag -log-level). At debug
	// every Object is logged in full (redacted) as JSON: slow, for local use.
	EnvLogLevel = "PLUGIN_LOG_LEVEL"
	// EnvRedact, when false, logs and journals keys and credentials in
	// clear (flag -redact). For local debugging only.
	EnvRedact = "PLUGIN_REDACT"
	// EnvCorrelationHeader names the request header whose value is logged
	// and journaled as correlation_id (flag -correlation-header).
	EnvCorrelationHeader = "PLUGIN_CORRELATION_HEADER"
	// EnvMaxRecvBytes and EnvMaxSendBytes bound gRPC message sizes (flags
	// -max-recv-bytes, -max-send-bytes). Keep them in step with the
	// gateway's grpc_send_max_size and grpc_recv_max_size.
	EnvMaxRecvBytes = "PLUGIN_GRPC_MAX_RECV_BYTES"
	EnvMaxSendBytes = "PLUGIN_GRPC_MAX_SEND_BYTES"
	// EnvShutdownTimeout bounds the graceful stop (flag -shutdown-timeout).
	EnvShutdownTimeout = "PLUGIN_SHUTDOWN_TIMEOUT"
	// EnvJournalRedisURL turns the journal on, e.g. redis://tyk-redis:6379/1
	// (flag -journal-redis-url). Empty: no journal.
	EnvJournalRedisURL = "PLUGIN_JOURNAL_REDIS_URL"
	// EnvJournalStream is the stream key (flag -journal-stream).
	EnvJournalStream = "PLUGIN_JOURNAL_STREAM"
	// EnvJournalMaxLen bounds the stream length (flag -journal-maxlen).
	EnvJournalMaxLen = "PLUGIN_JOURNAL_MAXLEN"
	// EnvJournalBuffer is how many entries may wait for Redis before new
	// ones are dropped (flag -journal-buffer).
	EnvJournalBuffer = "PLUGIN_JOURNAL_BUFFER"
	// EnvJournalMaxBody is how many bytes of each body the journal keeps;
	// -1 keeps them whole (flag -journal-max-body-bytes).
	EnvJournalMaxBody = "PLUGIN_JOURNAL_MAX_BODY_BYTES"
	// EnvJournalLinger is how long journal entries may gather before they
	// go to Redis in one round trip; 0 sends each at once (flag
	// -journal-linger).
	EnvJournalLinger = "PLUGIN_JOURNAL_LINGER"
	// EnvMetricsAddr is where Prometheus metrics are served (/metrics), off
	// the gRPC port, e.g. :9464 (flag -metrics-addr). Empty: no metrics.
	EnvMetricsAddr = "PLUGIN_METRICS_ADDR"
	// EnvDispatchTimeout bounds every Dispatch (the gateway sets no
	// deadline); 0 turns the bound off (flag -dispatch-timeout).
	EnvDispatchTimeout = "PLUGIN_DISPATCH_TIMEOUT"
	// EnvFailOpen lists hook names (comma-separated) whose failure lets the
	// request go on unchanged instead of failing it (flag -fail-open).
	EnvFailOpen = "PLUGIN_FAIL_OPEN"
	// EnvMaxAbandonedHooks bounds the hooks a timeout left running (they
	// ignored their context): past it the replica reports NOT_SERVING, so
	// that an orchestrator replaces it (flag -max-abandoned-hooks); 0 for
	// no bound.
	EnvMaxAbandonedHooks = "PLUGIN_MAX_ABANDONED_HOOKS"
	// EnvMaxConnectionAge is how long a client connection may live before
	// the server asks the client to reconnect, so that a gateway finds new
	// replicas (flag -max-connection-age); 0 for ever.
	EnvMaxConnectionAge = "PLUGIN_MAX_CONNECTION_AGE"
	// EnvReplica names this replica in the journal and the log (flag
	// -replica); unset, the name Docker's DNS gives the container, else
	// the host name.
	EnvReplica = "PLUGIN_REPLICA"
	// EnvLabHooks, when true, serves the lab's hooks beside the plugin's:
	// the examples (plugin-server/examples) and the gateway-fact probes
	// (plugin-server/returned) that apis/ wires (flag -lab-hooks). The lab
	// (compose.yaml, make dev) turns it on; a production deployment leaves
	// it off and serves only its own hooks.
	EnvLabHooks = "PLUGIN_LAB_HOOKS"
)

// Defaults of the production settings.
const (
	// DefaultDispatchTimeout is shorter than the graceful stop
	// (grpcserver.DefaultShutdownTimeout), so that a stopping replica
	// never cuts a call off: every call ends before the stop's limit.
	DefaultDispatchTimeout = 5 * time.Second
	// DefaultMaxAbandonedHooks: a hundred goroutines stuck at once is a
	// stuck dependency or a deadlock, not a slow call.
	DefaultMaxAbandonedHooks = 100
	// DefaultMaxConnectionAge makes the gateway reconnect, and so ask DNS
	// again for the replicas, every 30 s or so (gRPC adds ±10 % jitter).
	DefaultMaxConnectionAge = 30 * time.Second
)

// Config is the plugin server's configuration.
type Config struct {
	ListenAddr        string
	LogLevel          slog.Level
	Redact            bool
	CorrelationHeader string
	MaxRecvBytes      int
	MaxSendBytes      int
	ShutdownTimeout   time.Duration

	JournalRedisURL string
	JournalStream   string
	JournalMaxLen   int64
	JournalBuffer   int
	JournalMaxBody  int
	JournalLinger   time.Duration

	MetricsAddr string

	DispatchTimeout   time.Duration
	FailOpen          []string
	MaxAbandonedHooks int
	MaxConnectionAge  time.Duration
	Replica           string
	LabHooks          bool

	// Check: check the configuration and exit (make up does, before it
	// starts anything).
	Check bool
}

// JournalOptions are the journal writer's options this configuration
// gives.
func (c Config) JournalOptions(log *slog.Logger) journal.Options {
	linger := c.JournalLinger
	if linger == 0 {
		linger = -1 // journal.Options: none
	}
	return journal.Options{
		Stream: c.JournalStream,
		MaxLen: c.JournalMaxLen,
		Buffer: c.JournalBuffer,
		Linger: linger,
		Logger: log,
	}
}

// Load parses args (without the program name) over the environment read
// through getenv.
func Load(args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("plugin-server", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	env := envReader{getenv: getenv}

	fs.StringVar(&c.ListenAddr, "listen", env.str(EnvListenAddr, grpcserver.DefaultAddr), "gRPC listen address ($"+EnvListenAddr+")")
	level := fs.String("log-level", env.str(EnvLogLevel, "info"), "log level: debug, info, warn, error ($"+EnvLogLevel+")")
	fs.BoolVar(&c.Redact, "redact", env.boolean(EnvRedact, true), "redact keys and credentials in logs and journal; false for local debugging only ($"+EnvRedact+")")
	fs.StringVar(&c.CorrelationHeader, "correlation-header", env.str(EnvCorrelationHeader, "X-Request-Id"), "request header used as correlation id ($"+EnvCorrelationHeader+")")
	fs.IntVar(&c.MaxRecvBytes, "max-recv-bytes", env.integer(EnvMaxRecvBytes, grpcserver.DefaultMaxMessageBytes), "largest gRPC message accepted ($"+EnvMaxRecvBytes+")")
	fs.IntVar(&c.MaxSendBytes, "max-send-bytes", env.integer(EnvMaxSendBytes, grpcserver.DefaultMaxMessageBytes), "largest gRPC message sent ($"+EnvMaxSendBytes+")")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", env.duration(EnvShutdownTimeout, grpcserver.DefaultShutdownTimeout), "graceful stop limit ($"+EnvShutdownTimeout+")")
	fs.StringVar(&c.JournalRedisURL, "journal-redis-url", env.str(EnvJournalRedisURL, ""), "Redis URL of the journal; empty disables it ($"+EnvJournalRedisURL+")")
	fs.StringVar(&c.JournalStream, "journal-stream", env.str(EnvJournalStream, journal.DefaultStream), "journal stream key ($"+EnvJournalStream+")")
	fs.Int64Var(&c.JournalMaxLen, "journal-maxlen", int64(env.integer(EnvJournalMaxLen, journal.DefaultMaxLen)), "approximate maximum stream length ($"+EnvJournalMaxLen+")")
	fs.IntVar(&c.JournalBuffer, "journal-buffer", env.integer(EnvJournalBuffer, 10000), "entries buffered while Redis is slow ($"+EnvJournalBuffer+")")
	fs.DurationVar(&c.JournalLinger, "journal-linger", env.duration(EnvJournalLinger, journal.DefaultLinger), "how long journal entries gather before one write to Redis; 0 for none ($"+EnvJournalLinger+")")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env.str(EnvMetricsAddr, ""), "Prometheus metrics address (/metrics), e.g. :9464; empty disables them ($"+EnvMetricsAddr+")")
	fs.IntVar(&c.JournalMaxBody, "journal-max-body-bytes", env.integer(EnvJournalMaxBody, 1024), "bytes of each body kept in the journal, -1 for all ($"+EnvJournalMaxBody+")")
	fs.DurationVar(&c.DispatchTimeout, "dispatch-timeout", env.duration(EnvDispatchTimeout, DefaultDispatchTimeout), "longest a Dispatch may take before it ends with DeadlineExceeded; 0 for no bound ($"+EnvDispatchTimeout+")")
	fs.IntVar(&c.MaxAbandonedHooks, "max-abandoned-hooks", env.integer(EnvMaxAbandonedHooks, DefaultMaxAbandonedHooks), "hooks left running past the dispatch timeout (ignoring their context) beyond which the server reports NOT_SERVING; 0 for no bound ($"+EnvMaxAbandonedHooks+")")
	failOpen := fs.String("fail-open", env.str(EnvFailOpen, ""), "hook names, comma-separated, whose failure (error, panic, timeout) lets the request go on unchanged ($"+EnvFailOpen+")")
	fs.DurationVar(&c.MaxConnectionAge, "max-connection-age", env.duration(EnvMaxConnectionAge, DefaultMaxConnectionAge), "how long a client connection lives before the client is asked to reconnect (and re-resolve DNS); 0 for ever ($"+EnvMaxConnectionAge+")")
	fs.BoolVar(&c.LabHooks, "lab-hooks", env.boolean(EnvLabHooks, false), "also serve the lab's examples and gateway-fact probes ($"+EnvLabHooks+")")
	fs.BoolVar(&c.Check, "check", false, "check the configuration, print it, and exit")
	fs.StringVar(&c.Replica, "replica", env.str(EnvReplica, ""), "this replica's name in the journal and log ($"+EnvReplica+"; default: its DNS name or host name)")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if len(env.errs) > 0 {
		return c, errors.Join(env.errs...)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return c, fmt.Errorf("log level %q: want debug, info, warn or error", *level)
	}
	switch {
	case c.MaxRecvBytes <= 0 || c.MaxSendBytes <= 0:
		return c, errors.New("message size limits must be positive")
	case c.ShutdownTimeout <= 0:
		return c, errors.New("shutdown timeout must be positive")
	case c.JournalMaxLen <= 0 || c.JournalBuffer <= 0:
		return c, errors.New("journal maxlen and buffer must be positive")
	case c.JournalLinger < 0:
		return c, errors.New("journal linger must not be negative")
	case c.DispatchTimeout < 0:
		return c, errors.New("dispatch timeout must not be negative (0 turns it off)")
	case c.MaxAbandonedHooks < 0:
		return c, errors.New("max abandoned hooks must not be negative (0: no bound)")
	case c.MaxConnectionAge < 0:
		return c, errors.New("max connection age must not be negative (0: for ever)")
	}
	for _, name := range strings.Split(*failOpen, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.FailOpen = append(c.FailOpen, name)
		}
	}
	if *failOpen != "" && len(c.FailOpen) == 0 {
		return c, fmt.Errorf("fail-open list %q names no hook", *failOpen)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return c, fmt.Errorf("metrics address %q: want host:port or :port (%v)", c.MetricsAddr, err)
		}
	}
	return c, nil
}

// envReader reads typed variables and collects what does not parse, so
// that a typo fails start-up with a clear message instead of being ignored.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e *envReader) boolean(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want true or false", name, v))
		return def
	}
	return b
}

func (e *envReader) integer(name string, def int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want an integer", name, v))
		return def
	}
	return n
}

func (e *envReader) duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a duration such as 10s", name, v))
		return def
	}
	return d
}
