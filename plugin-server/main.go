// Command plugin-server is the gRPC plugin server for Tyk Gateway: it
// serves your plugin's hooks (package plugin) as the coprocess Dispatcher,
// routed by the SDK (package tykplugin), with the lab's instrumentation
// around them: each call is logged as one JSON line and, when a journal is
// configured, journaled to a Redis Stream with what the hook changed;
// metrics, traces, a deadline and fail-open hooks are settings. With
// PLUGIN_LAB_HOOKS it also serves the lab's examples and gateway-fact
// probes (the lab turns it on; production leaves it off).
//
// Usage:
//
//	plugin-server [flags]              serve (see -h for flags and env vars)
//	plugin-server healthcheck [-addr]  exit 0 when the server is SERVING
//	plugin-server journal [flags]      print journal records as JSON lines
//	plugin-server inspect [flags]      serve the inspector (the journal as a web page)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/deadline"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/instrument"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/logwriter"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/metrics"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/tracing"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/plugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "healthcheck":
		err = healthcheck(ctx, args[1:], getenv, stderr)
	case len(args) > 0 && args[0] == "journal":
		err = printJournal(ctx, args[1:], getenv, stdout, stderr)
	case len(args) > 0 && args[0] == "inspect":
		err = inspect(ctx, args[1:], getenv, stderr)
	default:
		err = serveMain(ctx, args, getenv, stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "plugin-server:", err)
		return 1
	}
	return 0
}

func serveMain(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	hooks, err := hooksFor(cfg)
	if err != nil {
		return err
	}
	if cfg.Check {
		fmt.Fprintf(stderr, "plugin-server: configuration ok: dispatch timeout %s, fail open %q, max connection age %s, journal %t, log level %s, redaction %t, lab hooks %t\n",
			cfg.DispatchTimeout, cfg.FailOpen, cfg.MaxConnectionAge, cfg.JournalRedisURL != "", cfg.LogLevel, cfg.Redact, cfg.LabHooks)
		return nil
	}
	out := logwriter.New(stderr)
	defer out.Close()
	log := slog.New(logwriter.NewHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel}))
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	return serve(ctx, cfg, hooks, getenv, lis, log)
}

// serve runs the plugin server with hooks on lis until ctx ends. getenv
// gives the standard OTEL_* variables (internal/server/tracing).
func serve(ctx context.Context, cfg config.Config, hooks map[string]tykplugin.Hook, getenv func(string) string, lis net.Listener, log *slog.Logger) error {
	if !cfg.Redact {
		log.Warn("redaction is OFF: API keys and credentials will appear in logs and journal; use for local debugging only")
	}
	var jw *journal.Writer
	if cfg.JournalRedisURL != "" {
		rdb, err := newRedis(cfg.JournalRedisURL)
		if err != nil {
			return err
		}
		defer rdb.Close()
		jw = journal.NewWriter(rdb, cfg.JournalOptions(log))
		log.Info("journal on", "redis", rdb.Options().Addr, "db", rdb.Options().DB, "stream", cfg.JournalStream)
	}
	replica := cfg.Replica
	if replica == "" {
		replica = replicaName(ctx)
	}
	instr := instrument.New(instrument.Options{
		Logger:            log,
		Journal:           journalOrNil(jw),
		Redact:            cfg.Redact,
		MaxBody:           cfg.JournalMaxBody,
		CorrelationHeader: cfg.CorrelationHeader,
		Replica:           replica,
	})

	// Tracing (off unless OTEL_* say where to send spans): a stats handler
	// starts each call's span, the instrumentation names and annotates it.
	version := buildVersion()
	var serverOpts []grpc.ServerOption
	tr, err := tracing.FromEnv(ctx, getenv, version)
	if err != nil {
		return err
	}
	if tr != nil {
		serverOpts = append(serverOpts, tr.ServerOption())
		endpoint, _ := tracing.Endpoint(getenv)
		log.Info("tracing on", "otlp_endpoint", endpoint)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tr.Shutdown(sctx); err != nil {
				log.Warn("traces not fully exported", "error", err)
			}
		}()
	}
	// Hooks the timeout left running; past the bound the server reports
	// NOT_SERVING (srv, set below, before the first call).
	var srv *grpcserver.Server
	abandoned := &deadline.Abandoned{Max: int64(cfg.MaxAbandonedHooks), OnOver: func(over bool) {
		if over {
			log.Error("too many hooks left running past the dispatch timeout (they ignore their context): health NOT_SERVING until they return",
				"max", cfg.MaxAbandonedHooks, "env", config.EnvMaxAbandonedHooks)
		} else {
			log.Warn("abandoned hooks back within their bound: health SERVING", "max", cfg.MaxAbandonedHooks)
		}
		srv.SetServing(!over)
	}}
	unary := []grpc.UnaryServerInterceptor{}
	var stream []grpc.StreamServerInterceptor
	var met *metrics.Metrics
	if cfg.MetricsAddr != "" {
		mlis, err := metrics.Listen(cfg.MetricsAddr)
		if err != nil {
			return err
		}
		mo := metrics.Options{HookNames: slices.Collect(maps.Keys(hooks)), Version: version}
		if jw != nil {
			mo.Journal = jw.Stats
		}
		if tr != nil {
			mo.SpansFailed = tr.Dropped
		}
		mo.Abandoned = func() (int64, uint64) { return abandoned.Running(), abandoned.Total() }
		met = metrics.New(mo)
		unary = append(unary, met.UnaryServerInterceptors()...)
		stream = append(stream, met.StreamServerInterceptor())
		mctx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics() // after the gRPC server: a scrape sees the last calls
		go func() {
			if err := met.Serve(mctx, mlis, log); err != nil {
				log.Error("metrics server stopped", "error", err)
			}
		}()
	}
	// The deadline goes after the instrumentation, which journals what
	// became of the call: its error, or that it failed open.
	unary = append(unary, instr.UnaryServerInterceptor(),
		deadline.UnaryServerInterceptor(deadline.Options{Timeout: cfg.DispatchTimeout, FailOpen: cfg.FailOpen, OnFailOpen: instr.FailedOpen,
			Abandoned: abandoned, OnAbandoned: instr.Abandoned, Logger: log}))
	if cfg.MaxConnectionAge > 0 {
		// Clients reconnect now and then, and so ask DNS again: a gateway
		// with round robin finds replicas added since. In-flight calls get
		// the graceful stop's time to finish.
		serverOpts = append(serverOpts, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      cfg.MaxConnectionAge,
			MaxConnectionAgeGrace: cfg.ShutdownTimeout,
		}))
	}
	srv = grpcserver.New(tykplugin.New(log, hooks), grpcserver.Options{
		Logger:          log,
		MaxRecvBytes:    cfg.MaxRecvBytes,
		MaxSendBytes:    cfg.MaxSendBytes,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Unary:           unary,
		Stream:          stream,
		ServerOptions:   serverOpts,
	})
	if met != nil {
		met.InitializeMetrics(srv.GRPC())
	}
	log.Info("plugin server settings", "replica", replica, "max_recv_bytes", cfg.MaxRecvBytes, "max_send_bytes", cfg.MaxSendBytes,
		"dispatch_timeout", cfg.DispatchTimeout.String(), "fail_open", cfg.FailOpen, "max_connection_age", cfg.MaxConnectionAge.String())
	err = srv.Serve(ctx, lis)
	if jw != nil {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cerr := jw.Close(flushCtx); cerr != nil {
			log.Warn("journal not fully flushed", "error", cerr)
		}
	}
	return err
}

// labHooks are the hook sets the lab serves beside the plugin's when
// PLUGIN_LAB_HOOKS is on: the probes of the e2e suite's gateway facts
// (apis/classic-facts.json, apis/classic-session*.json, apis/*-bodies*.json), and the examples (examples.go adds them; `make
// remove-examples` deletes it with them).
var labHooks = []func() map[string]tykplugin.Hook{returned.Hooks, returned.SessionHooks, returned.BodyHooks}

// hooksFor is what the plugin server serves: the plugin's hooks, and the
// lab's when cfg turns them on. It fails when a lab hook has a name of the
// plugin's, or the configuration names a hook it does not have.
func hooksFor(cfg config.Config) (map[string]tykplugin.Hook, error) {
	hooks := map[string]tykplugin.Hook{}
	maps.Copy(hooks, plugin.Hooks())
	if cfg.LabHooks {
		for _, set := range labHooks {
			for name, h := range set() {
				if _, ok := hooks[name]; ok {
					return nil, fmt.Errorf("%s: the plugin has a hook named %q, as the lab's own has; rename yours", config.EnvLabHooks, name)
				}
				hooks[name] = h
			}
		}
	}
	for _, name := range cfg.FailOpen {
		if _, ok := hooks[name]; !ok {
			return nil, fmt.Errorf("%s names %q, which is no hook of this plugin server (its hooks: %s)",
				config.EnvFailOpen, name, strings.Join(slices.Sorted(maps.Keys(hooks)), ", "))
		}
	}
	return hooks, nil
}

// buildVersion is the plugin server's module version, "(devel)" for a
// build from a work tree.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// replicaName is what the journal and log call this plugin server: the
// name Docker's DNS gives its address (compose names a replica
// <project>-plugin-server-<n>), else its host name (a container id).
func replicaName(ctx context.Context) string {
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return host
	}
	// Asked of DNS itself: /etc/hosts, which the ordinary lookup reads
	// first, maps the address back to the host name.
	name, err := dnsName(ctx, addrs[0])
	if err != nil || name == "" {
		return host
	}
	return name
}

// newRedis connects to the journal's Redis with short timeouts: a hung
// Redis must cost journal entries, not stall the writer for long.
func newRedis(rawURL string) (*redis.Client, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		// Neither the URL nor the parser's error (which may quote it) may
		// show a password.
		shown := "(one that does not parse as a URL)"
		if u, perr := url.Parse(rawURL); perr == nil {
			shown = strconv.Quote(u.Redacted())
		}
		return nil, fmt.Errorf("journal Redis URL %s: %s", shown, strings.ReplaceAll(err.Error(), rawURL, shown))
	}
	o.DialTimeout = time.Second
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	o.MaxRetries = 1
	return redis.NewClient(o), nil
}

// journalOrNil keeps a nil *journal.Writer from becoming a non-nil
// instrument.Journal.
func journalOrNil(jw *journal.Writer) instrument.Journal {
	if jw == nil {
		return nil
	}
	return jw
}
