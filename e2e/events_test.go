// Events: a bad key on the auth-token API gets 403, and the gateway sends an
// AuthFailure event (cp_dynamic_handler) to DispatchEvent, journaled with the
// request's correlation id, api_id classic-auth and the key fingerprinted,
// never raw.
package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/redact"
)

func TestBadKeyFiresAuthFailureEvent(t *testing.T) {
	l := getLab(t)
	id := newID(t)
	badKey := "e2e-bad-key-" + randomHex(6)
	path := "/auth/anything/e2e/denied"

	mark := l.mark(t)
	r := l.send(t, http.MethodGet, path, id, "", map[string]string{"Authorization": badKey})
	if r.Status != http.StatusForbidden {
		t.Errorf("X-Request-Id %s: a bad key got HTTP %d, expected 403; body: %s", id, r.Status, r.Body)
	}

	// The gateway fires events asynchronously, after answering.
	l.waitJournal(t, mark, "an AuthFailure event with correlation id "+id, hasEvent(id))
	recs := l.recordsFor(t, mark, id)
	if len(recs) != 2 || recs[0].Kind != journal.KindDispatch || recs[1].Kind != journal.KindEvent {
		t.Fatalf("X-Request-Id %s: expected exactly the Pre dispatch then the AuthFailure event; the journal held:\n%s", id, describe(recs))
	}
	expectDispatches(t, id, recs[:1], pre("classic-auth", http.MethodGet, path))

	ev := recs[1]
	if ev.EventType != "AuthFailure" || ev.APIID != "classic-auth" || ev.CorrelationID != id {
		t.Errorf("expected event AuthFailure for api_id classic-auth with correlation id %s; the journal held:\n%s", id, describe(recs[1:]))
	}
	var payload struct {
		HandlerName string `json:"handler_name"`
		Message     struct {
			Type string
			Meta struct {
				Key                string
				Path               string
				OriginatingRequest string
			}
		} `json:"message"`
		Spec map[string]string `json:"spec"`
	}
	if err := json.Unmarshal(ev.Event, &payload); err != nil {
		t.Fatalf("the event record's payload is not the gateway's event JSON: %v\n%s", err, ev.Event)
	}
	meta := payload.Message.Meta
	if want := redact.Fingerprint(badKey); meta.Key != want {
		t.Errorf("the AuthFailure event's message.Meta.Key is %q in the journal, expected the bad key's fingerprint %q", mask(meta.Key, badKey), want)
	}
	if meta.Path != path || payload.Message.Type != "AuthFailure" || payload.HandlerName != "MyAuthFailureEventHandler" || payload.Spec["APIID"] != "classic-auth" {
		t.Errorf("the AuthFailure event does not describe the request: %s", mask(string(ev.Event), badKey))
	}
	// The original request (base64 in the event) carries the key: it must
	// not survive either.
	if raw, err := base64.StdEncoding.DecodeString(meta.OriginatingRequest); err == nil && strings.Contains(string(raw), badKey) {
		t.Errorf("the AuthFailure event's message.Meta.OriginatingRequest still holds the raw request with its key")
	}
	// Nowhere in this request's records: summary fields, Object, event.
	for _, r := range recs {
		if strings.Contains(string(r.Event), badKey) || strings.Contains(r.Key, badKey) || objectContains(r, badKey) {
			t.Errorf("journal record %s (%s) holds the raw bad key", r.ID, mask(line(r), badKey))
		}
	}
}
