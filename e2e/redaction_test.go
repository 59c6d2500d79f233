// Redaction: the demo key never appears raw anywhere in the journal
// stream's bytes (every field of every entry, Objects and events included),
// neither as clients send it nor as the gateway names it (session.key_id),
// after a request that carries it in a header, in its body and back in the
// upstream's echo.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
)

func TestJournalHoldsNoRawKey(t *testing.T) {
	l := getLab(t)
	// Make sure the stream holds the key's records, whatever ran before:
	// the key in the header and the body (which the upstream echoes), in
	// both of the forms the gateway accepts.
	for _, key := range []string{demoKey, demoKeyID} {
		id := newID(t)
		mark := l.mark(t)
		body := fmt.Sprintf(`{"note":"the key again in the body: %s"}`, key)
		r := l.send(t, http.MethodPost, "/auth/anything/e2e/redaction", id, body, map[string]string{
			"Authorization": key,
			"Content-Type":  "application/json",
		})
		if r.Status != http.StatusOK {
			t.Fatalf("X-Request-Id %s: the demo key got HTTP %d, expected 200; body: %s", id, r.Status, mask(mask(string(r.Body), demoKey), demoKeyID))
		}
		if recs := l.recordsFor(t, mark, id); len(recs) == 0 {
			t.Fatalf("X-Request-Id %s: no journal record for a request with the demo key", id)
		}
	}

	// Every entry, every field, as stored.
	secrets := map[string]string{demoKey: "the demo key", demoKeyID: "the demo key's token (session.key_id)"}
	ctx := context.Background()
	entries, hits := 0, map[string]int{}
	start := "-"
	for {
		msgs, err := l.Redis.XRangeN(ctx, journal.DefaultStream, start, "+", 500).Result()
		if err != nil {
			t.Fatalf("reading the journal (Redis DB %d, stream %s): %v", journalDB, journal.DefaultStream, err)
		}
		for _, m := range msgs {
			entries++
			for field, v := range m.Values {
				s, _ := v.(string)
				for secret, name := range secrets {
					if !strings.Contains(s, secret) {
						continue
					}
					hits[name]++
					if hits[name] <= 5 {
						t.Errorf("journal entry %s holds %s raw, in field %q: %s", m.ID, name, field, where(m, field, s, secret))
					}
				}
			}
		}
		if len(msgs) < 500 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	for name, n := range hits {
		t.Errorf("%s appears raw in %d places of the %d journal entries (stream %s, Redis DB %d); it must be fingerprinted or removed everywhere", name, n, entries, journal.DefaultStream, journalDB)
	}
	t.Logf("scanned %d journal entries", entries)
}

// where shows a hit in context, the secret masked: for the Object, the
// surroundings in its JSON form, so that the field is named.
func where(m redis.XMessage, field, s, secret string) string {
	rec, err := journal.Decode(m)
	summary := fmt.Sprintf("(%s %s%s, correlation id %q)", rec.Kind, rec.HookType, rec.EventType, rec.CorrelationID)
	if (field == "received" || field == "returned") && err == nil && rec.Received != nil {
		js := protojson.MarshalOptions{UseProtoNames: true}.Format(rec.Received)
		return summary + " " + context80(strings.Join(strings.Fields(js), " "), secret)
	}
	return summary + " " + context80(s, secret)
}

// context80 is up to 80 characters either side of the first occurrence of
// secret in s, with every occurrence masked.
func context80(s, secret string) string {
	i := strings.Index(s, secret)
	if i < 0 {
		return mask(s, secret)
	}
	from, to := max(0, i-80), min(len(s), i+len(secret)+80)
	return "…" + mask(s[from:to], secret) + "…"
}

// mask replaces a secret by a marker, so that failure messages do not
// repeat it.
func mask(s, secret string) string {
	return strings.ReplaceAll(s, secret, "<RAW KEY>")
}

// objectContains reports whether a record's Object holds secret anywhere
// (strings are stored as UTF-8 in the protobuf encoding).
func objectContains(r journal.Record, secret string) bool {
	for _, o := range []*coprocess.Object{r.Received, r.Returned} {
		if o == nil {
			continue
		}
		if b, err := proto.Marshal(o); err != nil || bytes.Contains(b, []byte(secret)) {
			return true
		}
	}
	return false
}
