package returned

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// Probes of what the gateway does with the session a CustomKeyCheck hook
// returns (docs/gateway.md, "What the gateway does with the session you
// return"; the e2e suite's TestSessionFacts). apis/classic-session*.json
// wire them: SessionAuth authenticates every request, returning the
// session its X-Lab-Session header names (SessionProbes); SessionSeen runs
// after it (PostKeyAuth, Post, Response), tells the upstream what session
// it received, and changes it when X-Lab-Session-Edit names its hook type.

// Request headers of the session probes.
const (
	// SessionHeader names the session SessionAuth returns.
	SessionHeader = "X-Lab-Session"
	// SessionEditHeader names the hook type whose SessionSeen changes the
	// session: its metadata "edited" and a rate of 1 per minute.
	SessionEditHeader = "X-Lab-Session-Edit"
	// SessionTenantHeader is the tenant the "pattern" session counts its
	// limits under.
	SessionTenantHeader = "X-Lab-Tenant"
)

// Headers SessionSeen sets on the upstream request (PostKeyAuth) and on the
// client's answer (Response): what the session it received says.
const (
	SeenKeyID    = "X-Lab-Seen-Key-Id"
	SeenEdited   = "X-Lab-Seen-Edited"
	SeenRate     = "X-Lab-Seen-Rate"
	SeenDeadline = "X-Lab-Seen-Deadline"
)

// The session probes' limits and cache.
const (
	// SessionLimit is the rate (per minute) and the quota (per hour) of
	// the limited sessions: the request after the SessionLimit-th is
	// refused.
	SessionLimit = 2
	// SessionCache is how long the deadline sessions let the gateway reuse
	// them.
	SessionCache = 2 * time.Second
	// SessionCacheLong is how long the others do.
	SessionCacheLong = time.Minute
	// SessionPolicy is the policy apis' tyk/policies/policies.json holds
	// for the "policy" session: rate SessionLimit per minute.
	SessionPolicy = "lab-session-rate"
	// SessionTenantPattern is the "pattern" session's rate_limit_pattern.
	SessionTenantPattern = "tenant-$tyk_context.headers_X_Lab_Tenant"
)

// SessionProbes are the sessions SessionAuth returns, by the X-Lab-Session
// value; "" (no header) is the plain one. Each is keyed by the request's
// Authorization header, cached for SessionCacheLong unless it is about the
// deadline.
var SessionProbes = map[string]func(key string) *coprocess.SessionState{
	"": probe(func(*coprocess.SessionState) {}),
	"seconds": probe(func(s *coprocess.SessionState) {
		s.IdExtractorDeadline = time.Now().Add(SessionCache).Unix()
	}),
	"millis": probe(func(s *coprocess.SessionState) {
		s.IdExtractorDeadline = time.Now().Add(SessionCache).UnixMilli()
	}),
	"zero":     probe(func(s *coprocess.SessionState) { s.IdExtractorDeadline = 0 }),
	"negative": probe(func(s *coprocess.SessionState) { s.IdExtractorDeadline = -1 }),
	"no-token": probe(func(s *coprocess.SessionState) { delete(s.Metadata, tykplugin.MetadataToken) }),
	// SessionAuth puts the token in the object's metadata instead.
	"object-token": probe(func(s *coprocess.SessionState) { delete(s.Metadata, tykplugin.MetadataToken) }),
	"rate":         probe(func(s *coprocess.SessionState) { s.Rate, s.Per = SessionLimit, 60 }),
	"quota": probe(func(s *coprocess.SessionState) {
		s.QuotaMax, s.QuotaRemaining, s.QuotaRenewalRate = SessionLimit, SessionLimit, 3600
	}),
	"unlimited-zero": probe(func(s *coprocess.SessionState) {
		s.Rate, s.Per, s.QuotaMax, s.QuotaRenewalRate = 0, 0, 0, 0
	}),
	"unlimited-negative": probe(func(s *coprocess.SessionState) {
		s.Rate, s.Per, s.QuotaMax, s.QuotaRenewalRate = -1, -1, -1, -1
	}),
	"rate-no-per":    probe(func(s *coprocess.SessionState) { s.Rate, s.Per = SessionLimit, 0 }),
	"rate-nan":       probe(func(s *coprocess.SessionState) { s.Rate, s.Per = math.NaN(), 60 }),
	"policy":         probe(func(s *coprocess.SessionState) { s.ApplyPolicies = []string{SessionPolicy} }),
	"policy-missing": probe(func(s *coprocess.SessionState) { s.ApplyPolicies = []string{"lab-no-such-policy"} }),
	"pattern": probe(func(s *coprocess.SessionState) {
		s.Rate, s.Per = SessionLimit, 60
		s.Metadata[tykplugin.MetadataRateLimitPattern] = SessionTenantPattern
	}),
}

// probe is a session probe: the plain session (keyed by key, reusable for
// SessionCacheLong, no limits) as change leaves it.
func probe(change func(*coprocess.SessionState)) func(key string) *coprocess.SessionState {
	return func(key string) *coprocess.SessionState {
		s := &coprocess.SessionState{
			Metadata:            map[string]string{tykplugin.MetadataToken: key, "probe": "SessionAuth"},
			IdExtractorDeadline: time.Now().Add(SessionCacheLong).Unix(),
		}
		change(s)
		return s
	}
}

// SessionHooks are SessionAuth and SessionSeen.
func SessionHooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{"SessionAuth": sessionAuth, "SessionSeen": sessionSeen}
}

// sessionAuth returns the session X-Lab-Session names, keyed by the
// credential (the Authorization header, else the form or body's).
func sessionAuth(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	name := o.GetRequest().GetHeaders()[SessionHeader]
	probe, ok := SessionProbes[name]
	if !ok {
		tykplugin.Deny(o, 400, nil, fmt.Sprintf("no session probe %q", name))
		return o, nil
	}
	key := o.GetRequest().GetHeaders()["Authorization"]
	if key == "" {
		key = "probe-" + o.GetRequest().GetHeaders()["X-Request-Id"]
	}
	o.Session = probe(key)
	if name == "object-token" {
		o.Metadata = map[string]string{tykplugin.MetadataToken: key}
	}
	return o, nil
}

// sessionSeen tells the upstream (and, as the Response hook, the client)
// what session it received, and changes it when asked to.
func sessionSeen(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	s := o.GetSession()
	seen := map[string]string{
		SeenKeyID:    s.GetKeyId(),
		SeenEdited:   s.GetMetadata()["edited"],
		SeenRate:     fmt.Sprint(s.GetRate()),
		SeenDeadline: fmt.Sprint(s.GetIdExtractorDeadline()),
	}
	if o.GetHookType() == coprocess.HookType_Response {
		if o.Response != nil {
			for k, v := range seen {
				tykplugin.SetResponseHeader(o, k+"-Response", v)
			}
		}
	} else if o.GetHookType() == coprocess.HookType_PostKeyAuth {
		for k, v := range seen {
			tykplugin.SetHeader(o, k, v)
		}
	}
	if strings.EqualFold(o.GetRequest().GetHeaders()[SessionEditHeader], o.GetHookType().String()) && s != nil {
		if s.Metadata == nil {
			s.Metadata = map[string]string{}
		}
		s.Metadata["edited"] = "by " + o.GetHookType().String()
		s.Rate, s.Per = 1, 60
	}
	return o, nil
}
