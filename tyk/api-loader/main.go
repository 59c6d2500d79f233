// Command api-loader loads the lab's API definitions (apis/*.json, Tyk
// Classic and Tyk OAS) and demo keys (apis/keys/*.json) into a Tyk Gateway
// through its Gateway API, then keeps them there.
//
// The OSS gateway loads an OAS API from disk only as two files (a classic
// companion plus the OAS document), and the companion decides routing and
// hooks. Loading through the Gateway API lets the gateway write both files
// from the single OAS document in apis/, which stays the source of truth.
//
//	api-loader            load, wait until every API answers, then re-check
//	                      every interval and reload what went missing (a
//	                      gateway restart empties its app_path)
//	api-loader -once      load, wait, exit (e.g. from the host: make load)
//	api-loader healthcheck  exit 0 while the loader's last check succeeded
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Environment variables (each has a flag).
const (
	EnvGatewayURL = "TYK_GATEWAY_URL" // -gateway
	EnvSecret     = "TYK_GW_SECRET"   // -secret: the Gateway API secret
	EnvAPIsDir    = "LAB_APIS_DIR"    // -apis
	EnvInterval   = "LAB_RECHECK_INTERVAL"
)

// readyFile is touched after every successful check; healthcheck reads it.
const readyFile = "/tmp/api-loader.ready"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "api-loader:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:])
	}
	fs := flag.NewFlagSet("api-loader", flag.ContinueOnError)
	gatewayURL := fs.String("gateway", envOr(EnvGatewayURL, "http://127.0.0.1:8080"), "gateway URL ($"+EnvGatewayURL+")")
	secret := fs.String("secret", os.Getenv(EnvSecret), "Gateway API secret ($"+EnvSecret+")")
	dir := fs.String("apis", envOr(EnvAPIsDir, "apis"), "directory of API definitions ($"+EnvAPIsDir+")")
	interval := fs.Duration("interval", envDuration(EnvInterval, 5*time.Second), "re-check interval ($"+EnvInterval+")")
	once := fs.Bool("once", false, "load, wait until every API answers, and exit")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the gateway and the APIs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("no Gateway API secret: set -secret or $" + EnvSecret)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	set, err := ReadDir(*dir)
	if err != nil {
		return err
	}
	gw := NewGateway(*gatewayURL, *secret)
	l := &Loader{GW: gw, Set: set, Log: log}

	startCtx, cancel := context.WithTimeout(ctx, *timeout)
	err = l.LoadAndWait(startCtx)
	cancel()
	if err != nil {
		return err
	}
	log.Info("all APIs loaded and answering", "apis", len(set.APIs), "keys", len(set.Keys), "gateway", *gatewayURL)
	if *once {
		return nil
	}
	touch(readyFile)
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		checkCtx, cancel := context.WithTimeout(ctx, *timeout)
		err := l.Reconcile(checkCtx)
		cancel()
		if err != nil {
			log.Warn("re-check failed", "error", err)
			continue
		}
		touch(readyFile)
	}
}

// healthcheck succeeds while the ready file is fresh.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("api-loader healthcheck", flag.ContinueOnError)
	maxAge := fs.Duration("max-age", 30*time.Second, "oldest acceptable successful check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := os.Stat(readyFile)
	if err != nil {
		return fmt.Errorf("not ready: APIs not loaded yet")
	}
	if age := time.Since(st.ModTime()); age > *maxAge {
		return fmt.Errorf("not ready: last successful check %s ago", age.Round(time.Second))
	}
	return nil
}

func touch(path string) {
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		_ = os.WriteFile(path, nil, 0o644)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}
