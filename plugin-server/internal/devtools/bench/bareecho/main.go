// Command bareecho is the benchmarks' baseline: a gRPC server that registers
// the same generated coprocess Dispatcher as the plugin server, whose
// Dispatch returns the received Object and does nothing else (no logging, no
// journal, no interceptors, no health or reflection service).
//
//	bareecho [-listen 127.0.0.1:50052]
//
// It prints "listening <addr>" on stdout once it accepts calls.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
)

// maxMessageBytes is the plugin server's default limit (a constant: the
// bare echo registers nothing of the lab's).
const maxMessageBytes = grpcserver.DefaultMaxMessageBytes

// echo is the bare Dispatcher.
type echo struct {
	coprocess.UnimplementedDispatcherServer
}

func (echo) Dispatch(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	return o, nil
}

func (echo) DispatchEvent(context.Context, *coprocess.Event) (*coprocess.EventReply, error) {
	return &coprocess.EventReply{}, nil
}

func main() {
	addr := flag.String("listen", "127.0.0.1:50052", "gRPC listen address")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bareecho:", err)
		os.Exit(1)
	}
	// The same message limits as the plugin server, nothing else.
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
	)
	coprocess.RegisterDispatcherServer(gs, echo{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		gs.Stop()
	}()
	fmt.Println("listening", lis.Addr().String())
	if err := gs.Serve(lis); err != nil && err != grpc.ErrServerStopped {
		fmt.Fprintln(os.Stderr, "bareecho:", err)
		os.Exit(1)
	}
}
