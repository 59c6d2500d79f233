// Benchmarks the default plugin with the lab's instrumentation (info-level JSON log to a file, journal to
// a real Redis, redaction on: the plugin server's defaults) against a bare
// echo handler, on the payloads of `make bench` (bench/payload):
//
//   - BenchmarkDispatch calls the handlers directly: what the lab adds per
//     dispatch, with nothing else around it.
//
//   - BenchmarkDispatchGRPC goes through gRPC on loopback (16 concurrent
//     callers on one connection, as the gateway keeps): allocations per
//     dispatch, client side included, as the plugin server sees them.
//
//     go test -run '^$' -bench . -benchmem ./plugin-server/internal/server/instrument
//
// The journal writes on its own goroutine; the benchmarks wait for every
// entry to reach Redis before stopping the clock, so ns/op and allocs/op
// (counted process-wide) include the writer's work. The lab cases skip when
// redis-server is not installed (see internal/testkit/redistest).
package instrument_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/devtools/bench/payload"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/instrument"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/logwriter"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/grpctest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/redistest"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// benchBare is the baseline: the generated Dispatcher returning the request.
type benchBare struct {
	coprocess.UnimplementedDispatcherServer
}

func (benchBare) Dispatch(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	return o, nil
}

// benchJournal hands entries to a real journal.Writer, waiting while its
// buffer is full (the Writer itself would drop them), so that every entry's
// cost is paid within the benchmark.
type benchJournal struct {
	w        *journal.Writer
	appended atomic.Uint64
}

func (j *benchJournal) Append(r *journal.Record) bool {
	for !j.w.Append(r) {
		time.Sleep(50 * time.Microsecond)
	}
	j.appended.Add(1)
	return true
}

// drain waits until Redis has every entry appended so far.
func (j *benchJournal) drain(b *testing.B) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := j.w.Stats()
		if st.Failed > 0 {
			b.Fatalf("journal: %d entries failed to reach Redis", st.Failed)
		}
		if st.Written >= j.appended.Load() {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("journal: %d of %d entries written after a minute", st.Written, j.appended.Load())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// benchLab is the plugin server's Dispatcher configured as `plugin-server`
// runs it by default: info-level JSON log to a file and journal to a fresh
// Redis, or only one of the two (to see where the cost goes).
func benchLab(b *testing.B, withLog, withJournal bool) (*benchServer, *benchJournal) {
	b.Helper()
	cfg, err := config.Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if withLog {
		f, err := os.Create(filepath.Join(b.TempDir(), "plugin-server.log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		// Buffered, as plugin-server writes it.
		out := logwriter.New(f)
		b.Cleanup(out.Close)
		log = slog.New(logwriter.NewHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	opts := instrument.Options{
		Logger:            log,
		Redact:            cfg.Redact,
		MaxBody:           cfg.JournalMaxBody,
		CorrelationHeader: cfg.CorrelationHeader,
	}
	var j *benchJournal
	if withJournal {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: 1, MaxRetries: 1})
		b.Cleanup(func() { _ = rdb.Close() })
		w := journal.NewWriter(rdb, cfg.JournalOptions(log))
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = w.Close(ctx)
		})
		j = &benchJournal{w: w}
		opts.Journal = j
	}
	return &benchServer{tykplugin.New(log, nil), instrument.New(opts).UnaryServerInterceptor()}, j
}

// benchServer is the plugin and its instrumentation, as plugin-server
// serves them.
type benchServer struct {
	plugin *tykplugin.Plugin
	unary  grpc.UnaryServerInterceptor
}

var benchInfo = &grpc.UnaryServerInfo{FullMethod: coprocess.Dispatcher_Dispatch_FullMethodName}

// Dispatch calls the plugin through the interceptor, as gRPC would.
func (s *benchServer) Dispatch(ctx context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	resp, err := s.unary(ctx, o, benchInfo, func(ctx context.Context, req any) (any, error) {
		return s.plugin.Dispatch(ctx, req.(*coprocess.Object))
	})
	if err != nil {
		return nil, err
	}
	return resp.(*coprocess.Object), nil
}

// benchVariants are the servers compared: the bare echo, the lab with only
// its log, only its journal, and both (as it runs).
var benchVariants = []struct {
	name             string
	withLog, journal bool
}{
	{"log", true, false},
	{"journal", false, true},
	{"lab", true, true},
}

func benchPayload(b *testing.B, name string) *coprocess.Object {
	b.Helper()
	o, err := payload.ByName(name)
	if err != nil {
		b.Fatal(err)
	}
	return o
}

func BenchmarkDispatch(b *testing.B) {
	for _, name := range payload.Names() {
		b.Run(name+"/bare", func(b *testing.B) {
			o := benchPayload(b, name)
			var d coprocess.DispatcherServer = benchBare{}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Dispatch(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, v := range benchVariants {
			b.Run(name+"/"+v.name, func(b *testing.B) {
				o := benchPayload(b, name)
				d, j := benchLab(b, v.withLog, v.journal)
				ctx := context.Background()
				b.ReportAllocs()
				cpu0 := benchCPU()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := d.Dispatch(ctx, o); err != nil {
						b.Fatal(err)
					}
				}
				if j != nil {
					j.drain(b)
				}
				b.StopTimer()
				b.ReportMetric(float64(benchCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// benchCPU is the CPU time this process used so far (user + system), in
// nanoseconds: the handlers' own cost plus the journal writer's, which
// ns/op (waiting for Redis) does not show.
func benchCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchCallers goroutines share one connection.
const benchCallers = 16

func BenchmarkDispatchGRPC(b *testing.B) {
	for _, name := range payload.Names() {
		b.Run(name+"/bare", func(b *testing.B) {
			benchGRPC(b, benchPayload(b, name), benchBare{}, nil)
		})
		for _, v := range benchVariants {
			b.Run(name+"/"+v.name, func(b *testing.B) {
				o := benchPayload(b, name)
				d, j := benchLab(b, v.withLog, v.journal)
				benchGRPC(b, o, d.plugin, j, d.unary)
			})
		}
	}
}

// benchGRPC serves d on a plain gRPC server (the message limits of the
// plugin server, nothing else, so that only the handler differs) and calls
// it from benchCallers goroutines.
func benchGRPC(b *testing.B, o *coprocess.Object, d coprocess.DispatcherServer, j *benchJournal, unary ...grpc.UnaryServerInterceptor) {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpctest.Serve(b, lis, func(ctx context.Context, lis net.Listener) error {
		gs := grpc.NewServer(
			grpc.MaxRecvMsgSize(grpcserver.DefaultMaxMessageBytes),
			grpc.MaxSendMsgSize(grpcserver.DefaultMaxMessageBytes),
			grpc.ChainUnaryInterceptor(unary...))
		coprocess.RegisterDispatcherServer(gs, d)
		go func() {
			<-ctx.Done()
			gs.Stop()
		}()
		if err := gs.Serve(lis); err != nil && err != grpc.ErrServerStopped {
			return err
		}
		return nil
	})
	ctx := context.Background()
	if _, err := srv.Client.Dispatch(ctx, o); err != nil { // connect
		b.Fatal(err)
	}
	if j != nil {
		j.drain(b)
	}
	// RunParallel runs parallelism × GOMAXPROCS goroutines.
	b.SetParallelism(max(1, benchCallers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := srv.Client.Dispatch(ctx, o); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if j != nil {
		j.drain(b)
	}
}
