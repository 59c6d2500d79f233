package returned_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
)

// BodySeen tells what each hook got, copies the request hooks' words to
// the client, and rewrites only when asked; a body RequestJSON refuses is
// its error.
func TestBodySeen(t *testing.T) {
	seen := returned.BodyHooks()["BodySeen"]
	pre := &coprocess.Object{HookType: coprocess.HookType_Pre, Request: &coprocess.MiniRequestObject{
		Headers: map[string]string{"Content-Length": "2", "Content-Type": "application/json"}, RawBody: []byte("{}")}}
	out, err := seen(context.Background(), pre)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Request.SetHeaders[returned.BodySeenHeader("Pre")]; got != "body=0 raw_body=2 crc=a3a6bf43 utf8=true content_length=2 content_encoding=-" {
		t.Errorf("Pre: %q", got)
	}
	if len(out.Request.RawBody) != 2 {
		t.Errorf("Pre rewrote the body unasked: %q", out.Request.RawBody)
	}

	pre.Request.Headers[returned.BodyRewriteHeader] = "Pre"
	pre.Request.Headers["Content-Encoding"] = "gzip"
	if _, err := seen(context.Background(), pre); err == nil || !strings.Contains(err.Error(), "gzip-encoded") {
		t.Errorf("a gzip body to rewrite: %v, want RequestJSON's error", err)
	}

	resp := &coprocess.Object{HookType: coprocess.HookType_Response,
		Request:  &coprocess.MiniRequestObject{Headers: map[string]string{returned.BodySeenHeader("Pre"): "pre words", returned.BodyRewriteHeader: "Response-Plain"}},
		Response: &coprocess.ResponseObject{StatusCode: 200, Headers: map[string]string{"Content-Encoding": "gzip"}, RawBody: []byte{0x1f, 0x8b}}}
	out, err = seen(context.Background(), resp)
	if err != nil {
		t.Fatal(err)
	}
	h := out.Response.Headers
	if !strings.Contains(h[returned.BodySeenHeader("Response")], "raw_body=2") || !strings.Contains(h[returned.BodySeenHeader("Response")], "utf8=false content_length=- content_encoding=gzip") ||
		h[returned.BodySeenHeader("Pre")] != "pre words" || string(out.Response.RawBody) != returned.BodyPlain || h["Content-Encoding"] != "gzip" {
		t.Errorf("Response: headers %v, raw_body %q", h, out.Response.RawBody)
	}
}
