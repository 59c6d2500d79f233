package tykplugin

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// What the gateway does with the session a CustomKeyCheck hook returns
// (gateway/coprocess.go, coprocess_id_extractor.go, session_manager.go,
// mw_rate_limiting.go; each point pinned by the e2e suite's TestSessionFacts
// on v5.14.0, v5.13.1 and v5.8.11, and listed in the lab's
// docs/gateway.md, "What the gateway does with the session you return"):
//
//   - it refuses (403) a session without metadata["token"];
//   - with an ID extractor on the API, it reuses the session for the same
//     credential without calling the hook while id_extractor_deadline is
//     after now in Unix seconds (a millisecond value caches for ever);
//   - it enforces rate/per (429) and quota_max per quota_renewal_rate
//     (403), zero or less meaning no limit; apply_policies brings the
//     policies' limits and access rights, and an unknown policy id is 403;
//     metadata["rate_limit_pattern"] replaces the key limits count under;
//   - it stores only CustomKeyCheck's session: a session changed by any
//     other hook is dropped.
//
// Grant writes a Session that way, and refuses what never works.

// Session is what a CustomKeyCheck hook grants an authenticated request.
// The zero value of each limit means none.
type Session struct {
	// Key names the session: the gateway stores it under this key (without
	// an ID extractor) and refuses the request (403) when it is empty. Use
	// the credential or a stable id of the caller. Grant puts it in
	// metadata["token"].
	Key string
	// CacheFor is how long the gateway may reuse the session for the same
	// credential without calling the hook again, when the API has an ID
	// extractor (custom_middleware.id_extractor). The gateway compares whole
	// Unix seconds: 0 calls the hook on every request; anything from 0 to
	// a second is refused. Without an ID extractor the hook runs on every
	// request whatever this says.
	CacheFor time.Duration
	// Rate limits the session to Rate.Requests per Rate.Per (429 beyond).
	Rate RateLimit
	// Quota allows Quota.Max requests per Quota.Renewal (403 beyond).
	Quota Quota
	// Policies are the ids of policies the gateway applies to the session,
	// their limits and access rights over the session's own. The gateway
	// answers 403 when it does not have one of them.
	Policies []string
	// LimitKey, when set, is what the gateway counts rate and quota under
	// instead of the session's key (metadata["rate_limit_pattern"]): a
	// literal, or gateway context variables such as
	// "$tyk_context.headers_X_Tenant" (expanded only on an API with
	// enable_context_vars) so that sessions share one limit.
	LimitKey string
	// Metadata goes with the session to the hooks after authentication
	// (PostKeyAuth, Post, Response) and to the gateway's context variables.
	Metadata map[string]string
}

// RateLimit is Requests per Per.
type RateLimit struct {
	Requests float64
	Per      time.Duration
}

// Quota is Max requests per Renewal; a zero Renewal never renews.
type Quota struct {
	Max     int64
	Renewal time.Duration
}

// The metadata keys the gateway reads from a returned session.
const (
	MetadataToken            = "token"
	MetadataRateLimitPattern = "rate_limit_pattern"
)

// Grant makes obj grant s: the gateway then authenticates the request
// with it (CustomKeyCheck). It returns an error, and leaves obj alone, when
// the gateway would not do what s says: no key, a cache the gateway cannot
// express, limits that are not numbers of requests per a period, or a hook
// other than CustomKeyCheck (whose session the gateway drops).
func Grant(obj *coprocess.Object, s Session) error {
	if err := s.check(); err != nil {
		return err
	}
	if h := obj.GetHookType(); h != coprocess.HookType_Unknown && h != coprocess.HookType_CustomKeyCheck {
		return fmt.Errorf("tykplugin.Grant: a %s hook's session is dropped by the gateway: only CustomKeyCheck grants one", h)
	}
	md := make(map[string]string, len(s.Metadata)+2)
	for k, v := range s.Metadata {
		md[k] = v
	}
	md[MetadataToken] = s.Key
	if s.LimitKey != "" {
		md[MetadataRateLimitPattern] = s.LimitKey
	}
	session := &coprocess.SessionState{
		Rate:          s.Rate.Requests,
		Per:           s.Rate.Per.Seconds(),
		QuotaMax:      s.Quota.Max,
		ApplyPolicies: append([]string(nil), s.Policies...),
		Metadata:      md,
	}
	if s.Quota.Max > 0 {
		session.QuotaRemaining = s.Quota.Max
		session.QuotaRenewalRate = int64(s.Quota.Renewal / time.Second)
	}
	if s.CacheFor > 0 {
		session.IdExtractorDeadline = time.Now().Add(s.CacheFor).Unix()
	}
	obj.Session = session
	return nil
}

func (s Session) check() error {
	var errs []error
	if s.Key == "" {
		errs = append(errs, errors.New("no Key: the gateway refuses a session without metadata[\"token\"] (403)"))
	}
	if s.Metadata[MetadataToken] != "" && s.Metadata[MetadataToken] != s.Key {
		errs = append(errs, errors.New(`Metadata["token"] differs from Key: set Key only`))
	}
	if s.CacheFor < 0 || s.CacheFor > 0 && s.CacheFor < time.Second {
		errs = append(errs, fmt.Errorf("CacheFor %v: the gateway caches whole seconds; use 0 (no cache) or a second or more", s.CacheFor))
	}
	r := s.Rate
	switch {
	case math.IsNaN(r.Requests) || math.IsInf(r.Requests, 0) || r.Requests < 0:
		errs = append(errs, fmt.Errorf("Rate.Requests %v: want a number of requests, 0 for no rate limit", r.Requests))
	case r.Requests > 0 && r.Per <= 0:
		errs = append(errs, fmt.Errorf("Rate %v per %v: want a positive Per", r.Requests, r.Per))
	case r.Requests == 0 && r.Per != 0:
		errs = append(errs, fmt.Errorf("Rate 0 per %v: no requests per a period is no rate limit to the gateway; leave Per 0 too", r.Per))
	}
	q := s.Quota
	switch {
	case q.Max < 0:
		errs = append(errs, fmt.Errorf("Quota.Max %d: want a number of requests, 0 for no quota", q.Max))
	case q.Renewal < 0 || q.Renewal > 0 && q.Renewal < time.Second:
		errs = append(errs, fmt.Errorf("Quota.Renewal %v: the gateway renews in whole seconds; 0 never renews", q.Renewal))
	case q.Max == 0 && q.Renewal != 0:
		errs = append(errs, fmt.Errorf("Quota 0 per %v: a zero Max is no quota to the gateway; leave Renewal 0 too", q.Renewal))
	}
	for _, p := range s.Policies {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, errors.New("an empty policy id"))
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tykplugin.Grant: %w", err)
	}
	return nil
}

// ExtractorKey is the key under which the gateway keeps the session of an
// API with an ID extractor, for the credential the extractor read: what
// the Gateway API's DELETE /tyk/keys/{key} takes to revoke it (the next
// request with that credential then calls the hook again). orgID is the
// API's org_id; hashKeyFunction the gateway's hash_key_function ("" when
// unset, as for legacy keys).
func ExtractorKey(orgID, credential, hashKeyFunction string) string {
	sum := md5.Sum([]byte(credential))
	id := strings.TrimPrefix(hex.EncodeToString(sum[:]), orgID)
	if hashKeyFunction == "" {
		return orgID + id
	}
	return base64.StdEncoding.EncodeToString(
		fmt.Appendf(nil, `{"org":"%s","id":"%s","h":"%s"}`, orgID, id, hashKeyFunction))
}
