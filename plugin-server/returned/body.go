package returned

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"unicode/utf8"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
)

// A probe of what the gateway sends a hook of a body and does with the
// body a hook returns (docs/gateway.md, "Bodies"; the e2e suite's
// TestBodyFacts, and `make bench`'s part 3). apis/classic-bodies.json wires
// BodySeen as the Pre, Post and Response hook; classic-bodies-raw.json and
// oas-bodies-raw.json the same with raw_body_only. Each call tells what it
// received in a header (BodySeenHeader): a request hook on the upstream
// request, the Response hook on the client's answer, where it also copies
// the request hooks' headers, so that the client sees all three whatever
// the upstream echoes. A request names a hook that rewrites the body in
// BodyRewriteHeader.

// BodyRewriteHeader names the rewrite a request asks of BodySeen:
//
//   - "Pre" or "Post": that hook adds "rewritten_by" to the JSON request
//     body (tykplugin.RequestJSON, SetRequestJSON); a body that is not
//     JSON is the hook's error;
//   - "Response": the Response hook adds "rewritten_by" to the JSON
//     response body (ResponseJSON, SetResponseJSON);
//   - "Response-Gunzip": the same, of a gzip-encoded JSON answer, which
//     the hook decompresses itself (SetResponseJSON then drops the
//     Content-Encoding);
//   - "Response-Plain": the Response hook sets response.raw_body to
//     BodyPlain and leaves the headers alone.
const BodyRewriteHeader = "X-Lab-Body-Rewrite"

// BodyPlain is the "Response-Plain" rewrite's body.
const BodyPlain = "rewritten by BodySeen"

// BodySeenHeader is the header in which BodySeen as hook tells what it
// received: X-Lab-Body-Pre, X-Lab-Body-Post, X-Lab-Body-Response (the
// response's body) and X-Lab-Body-Response-Request (the request's, as the
// Response hook got it).
func BodySeenHeader(hook string) string { return "X-Lab-Body-" + hook }

// BodySeen summarises a body as a hook received it: the length of body and
// of raw_body, raw_body's CRC-32 (IEEE) and whether it is UTF-8, and the
// Content-Length and Content-Encoding headers the hook saw ("-" for none):
// "body=17 raw_body=17 crc=1a2b3c4d utf8=true content_length=17
// content_encoding=-".
func BodySeen(body string, raw []byte, headers map[string]string) string {
	return fmt.Sprintf("body=%d raw_body=%d crc=%08x utf8=%t content_length=%s content_encoding=%s",
		len(body), len(raw), crc32.ChecksumIEEE(raw), utf8.Valid(raw),
		orDash(headers["Content-Length"]), orDash(headers["Content-Encoding"]))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// BodyHooks is BodySeen.
func BodyHooks() map[string]tykplugin.Hook {
	return map[string]tykplugin.Hook{"BodySeen": bodySeen}
}

func bodySeen(_ context.Context, o *coprocess.Object) (*coprocess.Object, error) {
	hook := o.GetHookType().String()
	rq := o.GetRequest()
	rewrite := rq.GetHeaders()[BodyRewriteHeader]
	if o.GetHookType() != coprocess.HookType_Response {
		tykplugin.SetHeader(o, BodySeenHeader(hook), BodySeen(rq.GetBody(), rq.GetRawBody(), rq.GetHeaders()))
		if rewrite != hook {
			return o, nil
		}
		var v map[string]any
		if err := tykplugin.RequestJSON(o, &v); err != nil {
			return nil, err
		}
		v["rewritten_by"] = hook
		return o, tykplugin.SetRequestJSON(o, v)
	}
	if o.GetResponse() == nil {
		return o, nil
	}
	rs := o.GetResponse()
	tykplugin.SetResponseHeader(o, BodySeenHeader(hook), BodySeen(rs.GetBody(), rs.GetRawBody(), rs.GetHeaders()))
	tykplugin.SetResponseHeader(o, BodySeenHeader(hook+"-Request"), BodySeen(rq.GetBody(), rq.GetRawBody(), rq.GetHeaders()))
	for _, h := range []string{BodySeenHeader("Pre"), BodySeenHeader("Post")} {
		if v := rq.GetHeaders()[h]; v != "" {
			tykplugin.SetResponseHeader(o, h, v)
		}
	}
	switch rewrite {
	case "Response", "Response-Gunzip":
		var v map[string]any
		var err error
		if rewrite == "Response" {
			err = tykplugin.ResponseJSON(o, &v)
		} else {
			err = gunzipJSON(rs.GetRawBody(), &v)
		}
		if err != nil {
			return nil, err
		}
		v["rewritten_by"] = hook
		return o, tykplugin.SetResponseJSON(o, v)
	case "Response-Plain":
		tykplugin.SetResponseBody(o, []byte(BodyPlain))
	}
	return o, nil
}

// gunzipJSON decodes a gzip-compressed JSON body into v.
func gunzipJSON(b []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("the response body is not gzip: %w", err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		return fmt.Errorf("the gzip response body is not JSON: %w", err)
	}
	return nil
}
