package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// traceparent is the W3C trace context every call carries, as the
// gateway's otelgrpc client sends it (a sampled parent span).
var traceparent = metadata.Pairs("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

// otlpSink is an OTLP/gRPC trace endpoint that counts the spans it gets.
type otlpSink struct {
	collectortrace.UnimplementedTraceServiceServer
	addr  string
	srv   *grpc.Server
	spans atomic.Uint64
}

func startOTLPSink() (*otlpSink, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{addr: lis.Addr().String(), srv: grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))}
	collectortrace.RegisterTraceServiceServer(s.srv, s)
	go s.srv.Serve(lis)
	return s, nil
}

func (s *otlpSink) stop() { s.srv.Stop() }

func (s *otlpSink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans.Add(uint64(len(ss.GetSpans())))
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// reportTraced prints the traced server's figures as ratios against the
// bare echo, round by round, and its machine-readable line:
//
//	BENCH traced_vs_bare small=<ratio> large=<ratio>
func reportTraced(opts options, results map[key][]roundResult, served, logLines uint64, jst journalStats, spans uint64) {
	fmt.Printf("\nTracing on (traced) and off (lab), each against the bare echo of the same rounds:\n\n")
	fmt.Printf("%-7s %4s | %8s %7s %7s | %8s %7s %7s | %6s %6s | %6s %6s\n",
		"payload", "conc", "traced/s", "p50", "p99", "lab/s", "p50", "cpu", "trace×", "p99×", "lab×", "p99×")
	var parts []string
	for _, name := range opts.payloads {
		for _, c := range opts.concurrency {
			b, l, tr := results[key{name, c, "bare"}], results[key{name, c, "lab"}], results[key{name, c, "traced"}]
			fmt.Printf("%-7s %4d | %8.0f %7s %7s | %8.0f %7s %7s | %6.2f %6.2f | %6.2f %6.2f\n",
				name, c, medianOf(tr, tput), durOf(tr, p50), durOf(tr, p99),
				medianOf(l, tput), durOf(l, p50), cpuOf(l, roundResult.cpuPerCall),
				ratio(tr, b, tput), ratio(tr, b, p99), ratio(l, b, tput), ratio(l, b, p99))
			if c == machineConcurrency {
				parts = append(parts, fmt.Sprintf("%s=%.2f", name, ratio(tr, b, tput)))
			}
		}
	}
	fmt.Printf("\ntraced: %d dispatches served, %d spans received by the sink; %d info log lines; journal written %d, dropped %d, failed %d\n",
		served, spans, logLines, jst.Written, jst.Dropped, jst.Failed)
	fmt.Printf("BENCH traced_vs_bare %s\n", strings.Join(parts, " "))
}
