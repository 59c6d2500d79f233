// What the gateway does with the session a CustomKeyCheck hook returns:
// each of sessionFacts (docs/gateway.md's table "What the gateway does
// with the session you return") proved against the real gateway through
// the probes of plugin-server/returned (SessionAuth, SessionSeen) wired by
// apis/classic-session*.json. The journal's CustomKeyCheck records are the
// witness of "the hook was (not) called".
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/journal"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// sessionFacts are what the gateway does with a returned session, each
// asserted by TestSessionFacts, with the releases it was seen on (`make
// e2e-matrix`).
var sessionFacts = []struct{ Name, What, Seen string }{
	{"seconds", "`id_extractor_deadline` in Unix seconds (now + 2 s), an ID extractor on the API: 5 requests with one credential call CustomKeyCheck once; the first request after the deadline calls it again", sessionSeen},
	{"millis", "the deadline in Unix **milliseconds**, as Tyk's documentation shows it: the hook is not called again after the 2 s meant (a millisecond deadline lies ~1,000× further away: the session is reused until it leaves the gateway's store)", sessionSeen},
	{"zero-negative", "a deadline of 0 or less: CustomKeyCheck is called on every request", sessionSeen},
	{"no-extractor", "no `id_extractor` on the API: CustomKeyCheck is called on every request, whatever the deadline", sessionSeen},
	{"no-credential", "a header ID extractor and no such header: 400 `Authorization field missing`, the hook is not called", sessionSeen},
	{"no-token", "a session without `metadata[\"token\"]`: 403 `{\"error\": \"Forbidden\"}`, although the hook succeeded", sessionSeen},
	{"object-token", "`token` in the object's `metadata` instead of the session's: accepted (the gateway merges it into the session's)", sessionSeen},
	{"form", "a form ID extractor (`extract_from: form`): cached by the form field's value as by a header; the upstream gets the form body intact", sessionSeen},
	{"body", "a body ID extractor (`extract_from: body`, `regex`): cached by the match; with a Content-Length the hook and the upstream get the whole body; **chunked** (no Content-Length) they get an **empty body**: the extractor reads it and only a body of known length is put back", sessionSeen},
	{"rate", "`rate` 2 per 60 s: the 3rd request is 429 `{\"error\": \"Rate Limit Exceeded\"}`", sessionSeen},
	{"quota", "`quota_max` 2: the 3rd request is 403 `{\"error\": \"Quota exceeded\"}`; `X-Ratelimit-Limit` is the quota, `X-Ratelimit-Remaining` what is left", sessionSeen},
	{"unlimited", "`rate`, `per`, `quota_max` 0 or -1: no limit", sessionSeen},
	{"bad-limits", "limits that make no sense, which `tykplugin.Grant` refuses: `rate` 2 with `per` 0 is no limit at all; a NaN `rate` refuses every request, 429", "5.13.1, 5.14.0 (5.8.11: a NaN `rate` is no limit)"},
	{"policy", "`apply_policies` with a policy's id: its limits apply (the policy's rate 2 per 60 s: the 3rd request is 429)", sessionSeen},
	{"policy-missing", "`apply_policies` with an id the gateway does not have: 403 `{\"error\": \"Forbidden\"}`", sessionSeen},
	{"pattern", "`metadata[\"rate_limit_pattern\"]` (`tenant-$tyk_context.headers_X_Lab_Tenant`, the API with `enable_context_vars`): sessions of one tenant share one rate limit; another tenant's does not count", sessionSeen},
	{"edits-dropped", "a session changed by PostKeyAuth, Post or Response (metadata, rate): not stored; the next request's session is CustomKeyCheck's", sessionSeen},
	{"key-id", "the session's `key_id` as PostKeyAuth gets it (5.9.0+), first and cached requests alike: `tykplugin.ExtractorKey(org, credential, hash_key_function)`, unhashed although `hash_keys` is on", "5.13.1, 5.14.0 (5.8.11: no `key_id`)"},
	{"base-identity", "CustomKeyCheck beside an auth token, `base_identity_provided_by: auth_token`: the hook's session is not stored (its limits do not apply, later hooks get the token's session) and the ID extractor never caches: the hook is called on every request", sessionSeen},
	{"hash-keys", "`hash_keys` off (a second gateway): the same cache and `key_id`; the session is stored in Redis under `apikey-` and the key itself, where `hash_keys` on stores it under a hash of the key", sessionSeen},
	{"revoke", "`DELETE /tyk/keys/{key}` with `tykplugin.ExtractorKey(org, credential, hash_key_function)`: the key is found (200) and the next request calls CustomKeyCheck again", sessionSeen},
}

const sessionSeen = "5.8.11, 5.13.1, 5.14.0"

// The table "What the gateway does with the session you return" in
// docs/gateway.md is sessionFacts.
func TestSessionFactsInDocs(t *testing.T) {
	expectFactTable(t, "What the gateway does with the session you return", sessionFacts)
}

// sessionCall is one request of a session fact.
type sessionCall struct {
	id string
	r  reply
}

// sessionSend sends GET path with the credential cred (Authorization) and
// the probe's session name.
func (l *Lab) sessionSend(t *testing.T, path, cred, probe string, extra map[string]string) sessionCall {
	t.Helper()
	h := map[string]string{}
	if cred != "" {
		h["Authorization"] = cred
	}
	if probe != "" {
		h[returned.SessionHeader] = probe
	}
	for k, v := range extra {
		h[k] = v
	}
	id := newID(t)
	return sessionCall{id, l.send(t, http.MethodGet, path, id, "", h)}
}

// authCalls counts the CustomKeyCheck dispatches of calls in the journal
// after mark.
func (l *Lab) authCalls(t *testing.T, mark string, calls ...sessionCall) int {
	t.Helper()
	all := l.settled(t, mark, calls[len(calls)-1].id)
	n := 0
	for _, c := range calls {
		for _, r := range byID(all, c.id) {
			if r.Kind == journal.KindDispatch && r.HookType == "CustomKeyCheck" {
				n++
			}
		}
	}
	return n
}

// statuses lists the calls' HTTP statuses.
func statuses(calls []sessionCall) []int {
	var s []int
	for _, c := range calls {
		s = append(s, c.r.Status)
	}
	return s
}

// gatewayError is the gateway's JSON error template's message.
func gatewayError(r reply) string {
	var e struct{ Error string }
	if json.Unmarshal(r.Body, &e) != nil {
		return "(not the gateway's error template: " + string(r.Body) + ")"
	}
	return e.Error
}

// gatewayAPI sends a Gateway API request with the lab's secret.
func (l *Lab) gatewayAPI(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	env, err := labEnv("..")
	if err != nil {
		t.Fatal(err)
	}
	secret := env.get("TYK_GW_SECRET", "")
	if secret == "" {
		t.Fatal("no TYK_GW_SECRET in .env or the environment: the Gateway API needs it")
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, l.GatewayURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Tyk-Authorization", secret)
	resp, err := l.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSessionFacts(t *testing.T) {
	l := getLab(t)
	checks := map[string]func(t *testing.T){}
	// cred is a credential of the test's own: the gateway caches by it.
	cred := func() string { return "Bearer lab-token-e2e-" + randomHex(6) }
	// send5 sends 5 requests with one credential and the probe's
	// session; it returns the number of CustomKeyCheck calls.
	send5 := func(t *testing.T, path, c, probe string) ([]sessionCall, int) {
		mark := l.mark(t)
		var calls []sessionCall
		for range 5 {
			calls = append(calls, l.sessionSend(t, path, c, probe, nil))
		}
		for _, c := range calls {
			if c.r.Status != http.StatusOK {
				t.Fatalf("X-Request-Id %s: HTTP %d, want 200: %s", c.id, c.r.Status, c.r.Body)
			}
		}
		return calls, l.authCalls(t, mark, calls...)
	}

	// deadline sends 5 requests with one credential and the probe's
	// session (one CustomKeyCheck call), then one more past the 2 s meant,
	// which calls CustomKeyCheck wantAfter times.
	deadline := func(t *testing.T, probe string, wantAfter int, why string) {
		c := cred()
		start := time.Now()
		_, n := send5(t, "/session/anything/"+probe, c, probe)
		if wantAfter > 0 && time.Since(start) > returned.SessionCache { // the deadline passed during the 5
			t.Skipf("5 requests took %v, longer than the session's cache", time.Since(start))
		}
		if n != 1 {
			t.Errorf("5 requests with one credential called CustomKeyCheck %d times, want 1 (the session is cached until its deadline)", n)
		}
		// The deadline is whole seconds: wait past it.
		time.Sleep(time.Until(start.Add(returned.SessionCache + 1500*time.Millisecond)))
		mark := l.mark(t)
		after := l.sessionSend(t, "/session/anything/"+probe, c, probe, nil)
		if n := l.authCalls(t, mark, after); n != wantAfter {
			t.Errorf("X-Request-Id %s: past the 2 s meant, the request called CustomKeyCheck %d times, want %d (%s)", after.id, n, wantAfter, why)
		}
	}
	checks["seconds"] = func(t *testing.T) { deadline(t, "seconds", 1, "the deadline passed") }
	checks["millis"] = func(t *testing.T) { deadline(t, "millis", 0, "a millisecond deadline: still cached") }
	checks["zero-negative"] = func(t *testing.T) {
		for _, probe := range []string{"zero", "negative"} {
			if _, n := send5(t, "/session/anything/"+probe, cred(), probe); n != 5 {
				t.Errorf("deadline %s: 5 requests called CustomKeyCheck %d times, want 5", probe, n)
			}
		}
	}
	checks["no-extractor"] = func(t *testing.T) {
		if _, n := send5(t, "/session-none/anything/cached", cred(), ""); n != 5 {
			t.Errorf("no id_extractor, a 60 s deadline: 5 requests called CustomKeyCheck %d times, want 5", n)
		}
	}
	checks["no-credential"] = func(t *testing.T) {
		mark := l.mark(t)
		c := l.sessionSend(t, "/session/anything/no-credential", "", "", nil)
		if c.r.Status != http.StatusBadRequest || gatewayError(c.r) != "Authorization field missing" {
			t.Errorf("X-Request-Id %s: HTTP %d %q, want 400 \"Authorization field missing\"", c.id, c.r.Status, gatewayError(c.r))
		}
		if n := l.authCalls(t, mark, c); n != 0 {
			t.Errorf("X-Request-Id %s: CustomKeyCheck called %d times, want 0", c.id, n)
		}
	}
	checks["no-token"] = func(t *testing.T) {
		mark := l.mark(t)
		c := l.sessionSend(t, "/session/anything/no-token", cred(), "no-token", nil)
		if c.r.Status != http.StatusForbidden || gatewayError(c.r) != "Forbidden" {
			t.Errorf("X-Request-Id %s: HTTP %d %q, want 403 \"Forbidden\"", c.id, c.r.Status, gatewayError(c.r))
		}
		for _, r := range l.recordsFor(t, mark, c.id) {
			if r.Kind == journal.KindDispatch && r.HookType == "CustomKeyCheck" && (r.Error != "" || len(r.Changes) == 0) {
				t.Errorf("X-Request-Id %s: the hook did not succeed: %s", c.id, line(r))
			}
		}
	}
	checks["object-token"] = func(t *testing.T) {
		if _, n := send5(t, "/session/anything/object-token", cred(), "object-token"); n != 1 {
			t.Errorf("5 requests called CustomKeyCheck %d times, want 1", n)
		}
	}
	checks["form"] = func(t *testing.T) {
		token := "lab-token-form-" + randomHex(6)
		form := url.Values{"token": {token}, "other": {"kept"}}.Encode()
		mark := l.mark(t)
		var calls []sessionCall
		for range 3 {
			id := newID(t)
			r := l.send(t, http.MethodPost, "/session-form/anything/form", id, form,
				map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			calls = append(calls, sessionCall{id, r})
			if r.Status != http.StatusOK {
				t.Fatalf("X-Request-Id %s: HTTP %d: %s", id, r.Status, r.Body)
			}
			if e, ok := decodeEcho(t, id, r); ok && e.Data != form {
				t.Errorf("X-Request-Id %s: the upstream got the body %q, want the form %q", id, e.Data, form)
			}
		}
		if n := l.authCalls(t, mark, calls...); n != 1 {
			t.Errorf("3 requests with one form token called CustomKeyCheck %d times, want 1", n)
		}
	}
	checks["body"] = func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
				sent := `{"credential":"lab-token-body-` + randomHex(6) + `","data":"kept?"}`
				body := sent // what the hook and the upstream get
				if chunked {
					body = ""
				}
				mark := l.mark(t)
				var calls []sessionCall
				for range 3 {
					id := newID(t)
					var rd io.Reader = strings.NewReader(sent)
					if chunked {
						rd = io.MultiReader(rd) // no length known: chunked
					}
					r := l.sendReader(t, http.MethodPost, "/session-body/anything/body", id, rd, map[string]string{"Content-Type": "application/json"})
					calls = append(calls, sessionCall{id, r})
					if r.Status != http.StatusOK {
						t.Fatalf("X-Request-Id %s: HTTP %d: %s", id, r.Status, r.Body)
					}
					if e, ok := decodeEcho(t, id, r); ok && e.Data != body {
						t.Errorf("X-Request-Id %s: the upstream got the body %q, want %q", id, e.Data, body)
					}
				}
				if n := l.authCalls(t, mark, calls...); n != 1 {
					t.Errorf("3 requests with one body credential called CustomKeyCheck %d times, want 1", n)
				}
				for _, r := range byID(l.after(t, mark), calls[0].id) {
					if r.HookType == "CustomKeyCheck" && string(r.Received.GetRequest().GetRawBody()) != body {
						t.Errorf("CustomKeyCheck got raw_body %q, want %q", r.Received.GetRequest().GetRawBody(), body)
					}
				}
			})
		}
	}
	limited := func(t *testing.T, path, probe string, wantStatus int, wantError string, extra map[string]string) []sessionCall {
		c := cred()
		var calls []sessionCall
		for range returned.SessionLimit + 1 {
			calls = append(calls, l.sessionSend(t, path, c, probe, extra))
		}
		for i, c := range calls[:returned.SessionLimit] {
			if c.r.Status != http.StatusOK {
				t.Errorf("request %d (X-Request-Id %s): HTTP %d, want 200: %s", i+1, c.id, c.r.Status, c.r.Body)
			}
		}
		last := calls[returned.SessionLimit].r
		if last.Status != wantStatus || gatewayError(last) != wantError {
			t.Errorf("request %d: HTTP %d %q, want %d %q (statuses %v)", returned.SessionLimit+1, last.Status, gatewayError(last), wantStatus, wantError, statuses(calls))
		}
		return calls
	}
	checks["rate"] = func(t *testing.T) {
		limited(t, "/session/anything/rate", "rate", http.StatusTooManyRequests, "Rate Limit Exceeded", nil)
	}
	checks["quota"] = func(t *testing.T) {
		calls := limited(t, "/session/anything/quota", "quota", http.StatusForbidden, "Quota exceeded", nil)
		for i, want := range []string{"1", "0"} {
			h := calls[i].r.Header
			if h.Get("X-Ratelimit-Limit") != fmt.Sprint(returned.SessionLimit) || h.Get("X-Ratelimit-Remaining") != want {
				t.Errorf("request %d: X-Ratelimit-Limit %q, X-Ratelimit-Remaining %q; want %d and %s", i+1, h.Get("X-Ratelimit-Limit"), h.Get("X-Ratelimit-Remaining"), returned.SessionLimit, want)
			}
		}
	}
	checks["unlimited"] = func(t *testing.T) {
		for _, probe := range []string{"unlimited-zero", "unlimited-negative"} {
			c := cred()
			for i := range 2*returned.SessionLimit + 1 {
				if r := l.sessionSend(t, "/session/anything/"+probe, c, probe, nil); r.r.Status != http.StatusOK {
					t.Errorf("%s: request %d (X-Request-Id %s): HTTP %d, want 200: %s", probe, i+1, r.id, r.r.Status, r.r.Body)
				}
			}
		}
	}
	checks["bad-limits"] = func(t *testing.T) {
		for _, probe := range []string{"rate-no-per", "rate-nan"} {
			c := cred()
			var calls []sessionCall
			for range returned.SessionLimit + 2 {
				calls = append(calls, l.sessionSend(t, "/session/anything/"+probe, c, probe, nil))
			}
			want := []int{200, 200, 200, 200} // per 0: no limit
			if probe == "rate-nan" && l.has(t, facts.NaNRate) {
				want = []int{429, 429, 429, 429}
			}
			if got := statuses(calls); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: HTTP %v, want %v", probe, got, want)
			}
		}
	}
	checks["policy"] = func(t *testing.T) {
		limited(t, "/session/anything/policy", "policy", http.StatusTooManyRequests, "Rate Limit Exceeded", nil)
	}
	checks["policy-missing"] = func(t *testing.T) {
		c := l.sessionSend(t, "/session/anything/policy-missing", cred(), "policy-missing", nil)
		if c.r.Status != http.StatusForbidden || gatewayError(c.r) != "Forbidden" {
			t.Errorf("X-Request-Id %s: HTTP %d %q, want 403 \"Forbidden\"", c.id, c.r.Status, gatewayError(c.r))
		}
	}
	checks["pattern"] = func(t *testing.T) {
		tenant := map[string]string{returned.SessionTenantHeader: "t" + randomHex(6)}
		other := map[string]string{returned.SessionTenantHeader: "t" + randomHex(6)}
		var got []int
		for _, step := range []struct {
			cred   string
			header map[string]string
		}{{cred(), tenant}, {cred(), tenant}, {cred(), other}, {cred(), tenant}} {
			got = append(got, l.sessionSend(t, "/session/anything/pattern", step.cred, "pattern", step.header).r.Status)
		}
		// Two credentials of one tenant use its 2 requests; another
		// tenant's passes; a third credential of the first tenant is over.
		if want := []int{200, 200, 200, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("four credentials (tenants A, A, B, A): HTTP %v, want %v", got, want)
		}
	}
	checks["edits-dropped"] = func(t *testing.T) {
		for _, hook := range []string{"PostKeyAuth", "Post", "Response"} {
			c := cred()
			edit := l.sessionSend(t, "/session/anything/edit", c, "", map[string]string{returned.SessionEditHeader: hook})
			next := l.sessionSend(t, "/session/anything/edit", c, "", nil)
			next2 := l.sessionSend(t, "/session/anything/edit", c, "", nil)
			for _, r := range []sessionCall{edit, next, next2} {
				if r.r.Status != http.StatusOK {
					t.Errorf("%s edits: X-Request-Id %s: HTTP %d, want 200 (the edit's rate of 1 a minute not applied): %s", hook, r.id, r.r.Status, r.r.Body)
				}
			}
			if e, ok := decodeEcho(t, next.id, next.r); ok {
				if got := e.Headers[returned.SeenEdited]; len(got) > 0 && got[0] != "" {
					t.Errorf("%s edited the session: the next request's PostKeyAuth saw metadata edited=%q, want none", hook, got)
				}
			}
		}
	}
	checks["key-id"] = func(t *testing.T) {
		c := cred()
		want := tykplugin.ExtractorKey("default", c, "murmur64") // tyk/tyk.conf's hash_key_function
		if !l.has(t, facts.KeyID) {
			want = ""
		}
		for i := range 2 {
			r := l.sessionSend(t, "/session/anything/key-id", c, "", nil)
			if e, ok := decodeEcho(t, r.id, r.r); ok {
				if got := strings.Join(e.Headers[returned.SeenKeyID], ","); got != want {
					t.Errorf("request %d: PostKeyAuth saw key_id %q, want %q", i+1, got, want)
				}
			}
		}
	}
	checks["base-identity"] = func(t *testing.T) {
		key := "lab-e2e-base-" + randomHex(6)
		code, body := l.gatewayAPI(t, http.MethodPost, "/tyk/keys/"+key, `{"org_id":"default","rate":1000,"per":1,"quota_max":-1,"expires":0,`+
			`"access_rights":{"classic-session-base":{"api_id":"classic-session-base","api_name":"base","versions":["Default"]}}}`)
		if code != http.StatusOK {
			t.Fatalf("POST /tyk/keys/%s: HTTP %d %s", key, code, body)
		}
		t.Cleanup(func() { l.gatewayAPI(t, http.MethodDelete, "/tyk/keys/"+key+"?api_id=classic-session-base", "") })
		c := cred()
		mark := l.mark(t)
		var calls []sessionCall
		for range returned.SessionLimit + 2 {
			r := l.sessionSend(t, "/session-base/anything/base", key, "rate", map[string]string{"X-Lab-Credential": c})
			calls = append(calls, r)
			if r.r.Status != http.StatusOK {
				t.Errorf("X-Request-Id %s: HTTP %d, want 200 (the hook's rate of %d a minute not applied): %s", r.id, r.r.Status, returned.SessionLimit, r.r.Body)
			} else if e, ok := decodeEcho(t, r.id, r.r); ok && strings.Join(e.Headers[returned.SeenRate], "") != "1000" {
				t.Errorf("X-Request-Id %s: PostKeyAuth saw a session of rate %q, want the token's 1000", r.id, e.Headers[returned.SeenRate])
			}
		}
		if n := l.authCalls(t, mark, calls...); n != len(calls) {
			t.Errorf("%d requests called CustomKeyCheck %d times, want every time", len(calls), n)
		}
	}
	checks["hash-keys"] = func(t *testing.T) {
		if l.UnhashedURL == "" {
			t.Skip("external mode: no second gateway with hash_keys off (the suite's own lab has one, compose.e2e.yaml)")
		}
		unhashed := *l
		unhashed.GatewayURL = l.UnhashedURL
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
			r := unhashed.sessionSend(t, "/session/anything/ready", "", "", nil)
			if r.r.Status != http.StatusNotFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the gateway with hash_keys off does not serve /session/ a minute after the lab started")
			}
		}
		hasKeyID := l.has(t, facts.KeyID)
		rdb := redis.NewClient(&redis.Options{Addr: l.Redis.Options().Addr}) // the gateway's DB 0
		defer rdb.Close()
		for _, gw := range []struct {
			name   string
			lab    *Lab
			stored bool // under apikey-<key>
		}{{"hash_keys on", l, false}, {"hash_keys off", &unhashed, true}} {
			c := cred()
			key := tykplugin.ExtractorKey("default", c, "murmur64")
			mark := l.mark(t)
			var calls []sessionCall
			for range 3 {
				r := gw.lab.sessionSend(t, "/session/anything/hash-keys", c, "", nil)
				calls = append(calls, r)
				if e, ok := decodeEcho(t, r.id, r.r); ok && hasKeyID && strings.Join(e.Headers[returned.SeenKeyID], "") != key {
					t.Errorf("%s: PostKeyAuth saw key_id %q, want %q", gw.name, e.Headers[returned.SeenKeyID], key)
				}
			}
			if n := l.authCalls(t, mark, calls...); n != 1 {
				t.Errorf("%s: 3 requests called CustomKeyCheck %d times, want 1", gw.name, n)
			}
			n, err := rdb.Exists(context.Background(), "apikey-"+key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if (n == 1) != gw.stored {
				t.Errorf("%s: Redis key apikey-<key> exists: %v, want %v", gw.name, n == 1, gw.stored)
			}
		}
	}
	checks["revoke"] = func(t *testing.T) {
		c := cred()
		if _, n := send5(t, "/session/anything/revoke", c, ""); n != 1 {
			t.Fatalf("5 requests called CustomKeyCheck %d times, want 1", n)
		}
		key := tykplugin.ExtractorKey("default", c, "murmur64") // tyk/tyk.conf's hash_key_function
		code, body := l.gatewayAPI(t, http.MethodDelete, "/tyk/keys/"+key, "")
		if code != http.StatusOK {
			t.Fatalf("DELETE /tyk/keys/%s: HTTP %d %s, want 200", key, code, body)
		}
		deleted := time.Now()
		for {
			mark := l.mark(t)
			next := l.sessionSend(t, "/session/anything/revoke", c, "", nil)
			if l.authCalls(t, mark, next) == 1 {
				t.Logf("the first request after the DELETE to call CustomKeyCheck was sent %v after it", time.Since(deleted).Round(time.Millisecond))
				break
			}
			if time.Since(deleted) > 30*time.Second {
				t.Fatalf("30 s after DELETE, requests still skip CustomKeyCheck")
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	for _, f := range sessionFacts {
		check, ok := checks[f.Name]
		if !ok {
			t.Errorf("no check for the session fact %q", f.Name)
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			t.Logf("fact: %s", f.What)
			check(t)
		})
	}
}
