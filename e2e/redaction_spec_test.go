// Redaction of spec: apis/classic-config-secret.json's config_data holds
// credentials (upstream_api_key, upstream.auth.password); after a request
// through it, neither appears raw in any field of the journal stream's
// entries for that request (the Objects' protobuf included), while the
// configuration's plain values (service, upstream.region) do.
package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// The credentials and plain values of apis/classic-config-secret.json's
// config_data.
const (
	configSecretKey      = "lab-e2e-config-secret-3f9a"
	configSecretPassword = "lab-e2e-config-password-7c1d"
	configSecretService  = "lab-e2e-config-service"
	configSecretRegion   = "eu-west"
)

func TestJournalRedactsConfigData(t *testing.T) {
	l := getLab(t)
	id := newID(t)
	mark := l.mark(t)
	r := l.send(t, http.MethodGet, "/config-secret/anything/e2e/config-secret", id, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("X-Request-Id %s: HTTP %d, want 200; body: %s", id, r.Status, mask(mask(string(r.Body), configSecretKey), configSecretPassword))
	}
	recs := l.recordsFor(t, mark, id)
	if len(recs) == 0 {
		t.Fatalf("X-Request-Id %s: no journal record", id)
	}
	for _, rec := range recs {
		if rec.APIID != "classic-config-secret" {
			t.Errorf("X-Request-Id %s: record of API %q, want classic-config-secret", id, rec.APIID)
		}
		cfg, ok := rec.Received.GetSpec()[tykplugin.SpecConfigData]
		if !ok {
			t.Errorf("X-Request-Id %s: %s record without spec.config_data; spec: %v", id, rec.HookType, rec.Received.GetSpec())
			continue
		}
		for _, plain := range []string{configSecretService, configSecretRegion} {
			if !strings.Contains(cfg, plain) {
				t.Errorf("X-Request-Id %s: the journaled config_data lost its plain value %q: %s", id, plain, cfg)
			}
		}
		if !strings.Contains(cfg, `"upstream_api_key":"redacted:sha256:`) {
			t.Errorf("X-Request-Id %s: the journaled config_data has no fingerprint for upstream_api_key: %s",
				id, mask(mask(cfg, configSecretKey), configSecretPassword))
		}
		if rec.Received.GetSpec()["APIID"] != "classic-config-secret" {
			t.Errorf("X-Request-Id %s: spec.APIID = %q", id, rec.Received.GetSpec()["APIID"])
		}
	}

	// Every field of the request's entries, as stored.
	secrets := map[string]string{configSecretKey: "config_data's upstream_api_key", configSecretPassword: "config_data's upstream.auth.password"}
	msgs, err := l.Redis.XRange(context.Background(), journal.DefaultStream, "("+mark, "+").Result()
	if err != nil {
		t.Fatalf("reading the journal (Redis DB %d, stream %s): %v", journalDB, journal.DefaultStream, err)
	}
	entries, plainSeen := 0, false
	for _, m := range msgs {
		rec, err := journal.Decode(m)
		if err != nil {
			t.Fatalf("decoding journal entry %s: %v", m.ID, err)
		}
		if rec.CorrelationID != id {
			continue
		}
		entries++
		for field, v := range m.Values {
			s, _ := v.(string)
			if strings.Contains(s, configSecretService) {
				plainSeen = true
			}
			for secret, name := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("journal entry %s holds %s raw, in field %q: %s", m.ID, name, field, mask(where(m, field, s, secret), secret))
				}
			}
		}
		for secret, name := range secrets {
			if objectContains(rec, secret) {
				t.Errorf("journal entry %s: an Object holds %s raw", m.ID, name)
			}
		}
	}
	if entries == 0 {
		t.Fatalf("X-Request-Id %s: no journal entry in the stream", id)
	}
	if !plainSeen {
		t.Errorf("X-Request-Id %s: the plain value %q of config_data appears in none of the %d entries' fields", id, configSecretService, entries)
	}
}
