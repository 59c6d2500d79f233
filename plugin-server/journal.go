// The journal subcommand prints what the plugin server journaled, decoded,
// so that people need neither redis-cli nor a protobuf decoder.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

func printJournal(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plugin-server journal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis-url", getenv(config.EnvJournalRedisURL), "Redis URL of the journal ($"+config.EnvJournalRedisURL+")")
	stream := fs.String("stream", orDefault(getenv(config.EnvJournalStream), journal.DefaultStream), "stream key")
	count := fs.Int64("n", 20, "print the last n records")
	corr := fs.String("correlation-id", "", "only records with this correlation id (a trailing * matches a prefix)")
	text := fs.Bool("text", false, "one short human-readable line per record instead of JSON")
	objects := fs.Bool("objects", false, "include the received (and returned) Object as JSON")
	follow := fs.Bool("f", false, "keep printing new records")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("no Redis URL: set -redis-url or $" + config.EnvJournalRedisURL)
	}
	rdb, err := newRedis(*url)
	if err != nil {
		return err
	}
	defer rdb.Close()

	msgs, err := rdb.XRevRangeN(ctx, *stream, "+", "-", *count).Result()
	if err != nil {
		return fmt.Errorf("read journal %s: %w", *stream, err)
	}
	// Follow from the newest record printed, or from the start of an empty
	// stream ("$" would miss a record added before the first XREAD).
	last := "0-0"
	for i := len(msgs) - 1; i >= 0; i-- {
		if err := printRecord(stdout, msgs[i], *corr, *objects, *text); err != nil {
			return err
		}
		last = msgs[i].ID
	}
	for *follow {
		res, err := xreadOrDone(ctx, rdb, &redis.XReadArgs{Streams: []string{*stream, last}, Block: 5 * time.Second})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return fmt.Errorf("follow journal %s: %w", *stream, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				if err := printRecord(stdout, m, *corr, *objects, *text); err != nil {
					return err
				}
				last = m.ID
			}
		}
	}
	return nil
}

// xreadOrDone is XRead that returns as soon as ctx ends: go-redis does not
// interrupt a blocking read when its context is cancelled, so Ctrl-C would
// otherwise wait for the Block time. The abandoned read ends when the
// client is closed.
func xreadOrDone(ctx context.Context, rdb *redis.Client, args *redis.XReadArgs) ([]redis.XStream, error) {
	type result struct {
		res []redis.XStream
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := rdb.XRead(ctx, args).Result()
		done <- result{res, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		return r.res, r.err
	}
}

func printRecord(w io.Writer, m redis.XMessage, corr string, objects, text bool) error {
	r, err := journal.Decode(m)
	if err != nil {
		return err
	}
	if !matchCorrelation(r.CorrelationID, corr) {
		return nil
	}
	if text {
		_, err := fmt.Fprintln(w, r.Text())
		return err
	}
	if !objects {
		_, err = fmt.Fprintf(w, "%s\n", r.JSON())
		return err
	}
	// The record's JSON with the objects added: one schema, printed whole.
	b, err := r.JSONWithObjects()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// matchCorrelation matches an id against a filter: empty matches all, a
// trailing * matches a prefix.
func matchCorrelation(id, filter string) bool {
	if prefix, ok := strings.CutSuffix(filter, "*"); ok {
		return strings.HasPrefix(id, prefix)
	}
	return filter == "" || id == filter
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
