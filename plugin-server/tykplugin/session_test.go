package tykplugin_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

func authObject() *coprocess.Object {
	return &coprocess.Object{HookType: coprocess.HookType_CustomKeyCheck, Request: &coprocess.MiniRequestObject{
		Method: "GET", Url: "/api/x", RequestUri: "/api/x", Headers: map[string]string{"Authorization": "Bearer t"}}}
}

func TestGrant(t *testing.T) {
	obj := authObject()
	before := time.Now()
	err := tykplugin.Grant(obj, tykplugin.Session{
		Key:      "user-42",
		CacheFor: 90 * time.Second,
		Rate:     tykplugin.RateLimit{Requests: 10, Per: 10 * time.Second},
		Quota:    tykplugin.Quota{Max: 1000, Renewal: time.Hour},
		Policies: []string{"gold"},
		LimitKey: "$tyk_context.headers_X_Tenant",
		Metadata: map[string]string{"user_id": "42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := obj.GetSession()
	if s.GetRate() != 10 || s.GetPer() != 10 || s.GetQuotaMax() != 1000 || s.GetQuotaRemaining() != 1000 || s.GetQuotaRenewalRate() != 3600 {
		t.Errorf("limits: rate %v per %v, quota %v (remaining %v) per %v", s.GetRate(), s.GetPer(), s.GetQuotaMax(), s.GetQuotaRemaining(), s.GetQuotaRenewalRate())
	}
	md := s.GetMetadata()
	if md["token"] != "user-42" || md["user_id"] != "42" || md["rate_limit_pattern"] != "$tyk_context.headers_X_Tenant" {
		t.Errorf("metadata %v", md)
	}
	if p := s.GetApplyPolicies(); len(p) != 1 || p[0] != "gold" {
		t.Errorf("apply_policies %v", p)
	}
	// Unix seconds, 90 s ahead.
	if d := time.Unix(s.GetIdExtractorDeadline(), 0).Sub(before); d < 89*time.Second || d > 91*time.Second {
		t.Errorf("id_extractor_deadline %d is %v ahead, want 90 s in Unix seconds", s.GetIdExtractorDeadline(), d)
	}
	// What the gateway makes of it.
	res := gatewaymodel.Apply(authObject(), obj, nil)
	if res.Session == nil || res.Client != nil || len(res.Warnings) > 0 {
		t.Errorf("the gateway: session %v, client %+v, warnings %q", res.Session, res.Client, res.Warnings)
	}
	if res.SessionReused.Unix() != s.GetIdExtractorDeadline() {
		t.Errorf("SessionReused %v", res.SessionReused)
	}
}

func TestGrantNoLimits(t *testing.T) {
	obj := authObject()
	if err := tykplugin.Grant(obj, tykplugin.Session{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	s := obj.GetSession()
	if s.GetIdExtractorDeadline() != 0 || s.GetRate() != 0 || s.GetQuotaMax() != 0 || len(s.GetApplyPolicies()) != 0 || len(s.GetMetadata()) != 1 {
		t.Errorf("session %v, want only metadata.token", s)
	}
	if res := gatewaymodel.Apply(authObject(), obj, nil); res.Session == nil || !res.SessionReused.IsZero() {
		t.Errorf("the gateway: %+v", res)
	}
}

// Grant refuses what the gateway would never do, says why, and leaves the
// object alone.
func TestGrantRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    tykplugin.Session
		hook coprocess.HookType
		want string
	}{
		{"no key", tykplugin.Session{}, 0, "no Key"},
		{"token differs", tykplugin.Session{Key: "a", Metadata: map[string]string{"token": "b"}}, 0, `Metadata["token"] differs`},
		{"negative cache", tykplugin.Session{Key: "k", CacheFor: -time.Second}, 0, "CacheFor -1s"},
		{"sub-second cache", tykplugin.Session{Key: "k", CacheFor: 500 * time.Millisecond}, 0, "whole seconds"},
		{"negative rate", tykplugin.Session{Key: "k", Rate: tykplugin.RateLimit{Requests: -1, Per: time.Second}}, 0, "Rate.Requests -1"},
		{"NaN rate", tykplugin.Session{Key: "k", Rate: tykplugin.RateLimit{Requests: math.NaN(), Per: time.Second}}, 0, "Rate.Requests NaN"},
		{"rate without a period", tykplugin.Session{Key: "k", Rate: tykplugin.RateLimit{Requests: 5}}, 0, "positive Per"},
		{"period without a rate", tykplugin.Session{Key: "k", Rate: tykplugin.RateLimit{Per: time.Second}}, 0, "leave Per 0"},
		{"negative quota", tykplugin.Session{Key: "k", Quota: tykplugin.Quota{Max: -1}}, 0, "Quota.Max -1"},
		{"sub-second renewal", tykplugin.Session{Key: "k", Quota: tykplugin.Quota{Max: 1, Renewal: time.Millisecond}}, 0, "Quota.Renewal 1ms"},
		{"renewal without a quota", tykplugin.Session{Key: "k", Quota: tykplugin.Quota{Renewal: time.Hour}}, 0, "leave Renewal 0"},
		{"empty policy", tykplugin.Session{Key: "k", Policies: []string{"a", " "}}, 0, "empty policy id"},
		{"not CustomKeyCheck", tykplugin.Session{Key: "k"}, coprocess.HookType_PostKeyAuth, "PostKeyAuth hook's session is dropped"},
		{"two problems", tykplugin.Session{CacheFor: -1}, 0, "no Key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := authObject()
			if tc.hook != 0 {
				obj.HookType = tc.hook
			}
			err := tykplugin.Grant(obj, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tykplugin.Grant: ") {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			if obj.Session != nil {
				t.Errorf("the object got a session: %v", obj.Session)
			}
		})
	}
	if err := tykplugin.Grant(authObject(), tykplugin.Session{CacheFor: -1}); !strings.Contains(err.Error(), "CacheFor") {
		t.Errorf("%v: want every problem named", err)
	}
}

// The model warns about what the gateway does quietly.
func TestSessionWarnings(t *testing.T) {
	obj := authObject()
	obj.Session = &coprocess.SessionState{Metadata: map[string]string{"token": "k"},
		IdExtractorDeadline: time.Now().Add(time.Minute).UnixMilli()}
	if res := gatewaymodel.Apply(authObject(), obj, nil); len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "milliseconds") {
		t.Errorf("a millisecond deadline: warnings %q", res.Warnings)
	}
	post := &coprocess.Object{HookType: coprocess.HookType_PostKeyAuth,
		Request: &coprocess.MiniRequestObject{Method: "GET", Url: "/x"},
		Session: &coprocess.SessionState{Rate: 5, Metadata: map[string]string{"token": "k"}}}
	edited := post.CloneVT()
	edited.Session.Rate = 1
	if res := gatewaymodel.Apply(post, edited, nil); len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "drops the session a PostKeyAuth hook changed") {
		t.Errorf("a PostKeyAuth's session edit: warnings %q", res.Warnings)
	}
	if res := gatewaymodel.Apply(post, post.CloneVT(), nil); len(res.Warnings) != 0 {
		t.Errorf("an unchanged session: warnings %q", res.Warnings)
	}
}

func TestExtractorKey(t *testing.T) {
	// md5("Bearer t") = 1d3d...; the gateway's token: base64 of its JSON.
	k := tykplugin.ExtractorKey("default", "Bearer t", "murmur64")
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		t.Fatalf("%q: %v", k, err)
	}
	var tok struct{ Org, ID, H string }
	if err := json.Unmarshal(b, &tok); err != nil || tok.Org != "default" || tok.H != "murmur64" || len(tok.ID) != 32 {
		t.Errorf("%s: %+v %v", b, tok, err)
	}
	if !strings.HasPrefix(k, "eyJvcmciOiJkZWZhdWx0Ii") {
		t.Errorf("%q: want the gateway's base64 JSON key", k)
	}
	if legacy := tykplugin.ExtractorKey("org1", "Bearer t", ""); legacy != "org1"+tok.ID {
		t.Errorf("legacy key %q, want org1%s", legacy, tok.ID)
	}
}

// A CustomKeyCheck hook granting a session the gateway reuses for a minute,
// with a rate limit, keyed by the caller's user id.
func ExampleGrant() {
	obj := authObject()
	err := tykplugin.Grant(obj, tykplugin.Session{
		Key:      "user-42",
		CacheFor: time.Minute,
		Rate:     tykplugin.RateLimit{Requests: 100, Per: time.Second},
		Metadata: map[string]string{"user_id": "42"},
	})
	fmt.Println(err)
	res := gatewaymodel.Apply(authObject(), obj, nil)
	fmt.Println(res.Session.GetMetadata()["token"], res.Session.GetRate(), res.Session.GetPer(), time.Until(res.SessionReused).Round(time.Minute))

	fmt.Println(tykplugin.Grant(obj, tykplugin.Session{Key: "user-42", CacheFor: 100 * time.Millisecond}))
	// Output:
	// <nil>
	// user-42 100 1 1m0s
	// tykplugin.Grant: CacheFor 100ms: the gateway caches whole seconds; use 0 (no cache) or a second or more
}
