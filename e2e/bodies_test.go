// What the gateway sends a hook of a body, and what the upstream and the
// client then get: each of bodyFacts (docs/gateway.md's table "Bodies")
// proved against the real gateway through the probe BodySeen
// (plugin-server/returned/body.go) wired as the Pre, Post and Response hook
// of apis/classic-bodies.json (/bodies/), and with raw_body_only of
// apis/classic-bodies-raw.json (/bodies-raw/) and oas-bodies-raw.json
// (/oas-bodies-raw/). Each hook tells what it got in a header
// (returned.BodySeen); the upstream, go-httpbin, echoes what it got.
package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/returned"
)

// bodyFacts are what the gateway does with bodies, each asserted by
// TestBodyFacts, with the releases it was seen on (`make e2e-matrix`).
var bodyFacts = []struct{ Name, What, Seen string }{
	{"text", "a UTF-8 body (JSON): the Pre, Post and Response hooks each get it twice, in `body` and `raw_body`; the Response hook gets the response's body twice too; the upstream and the client get the bodies intact", bodySeenAll},
	{"raw-body-only", "`raw_body_only` on each hook (Classic `raw_body_only`, OAS `rawBodyOnly`): every hook gets each body in `raw_body` only, `body` empty; the upstream and the client get them intact", bodySeenAll},
	{"binary", "a body that is not UTF-8 (the 256 byte values): `raw_body` only, `body` empty, with `raw_body_only` or without; the upstream gets it byte for byte", bodySeenAll},
	{"multipart", "a `multipart/form-data` upload, a field and a binary file: the hooks get the multipart body whole and unparsed, in `raw_body` only (not UTF-8); the upstream gets the field and the file intact", bodySeenAll},
	{"gzip-request", "a gzip-encoded request body (`Content-Encoding: gzip`): the hooks get the compressed bytes, in `raw_body` only: the gateway never decompresses; the upstream gets them and the header unchanged; `tykplugin.RequestJSON` refuses it (`ErrNoJSONBody`): a hook returning that error makes it 500 `Middleware error`", bodySeenAll},
	{"gzip-truncated", "a truncated gzip stream: passed on as it is, to the hooks and the upstream: the gateway does not look", bodySeenAll},
	{"gzip-answer", "a gzip answer (go-httpbin's `/gzip`), the client sending `Accept-Encoding: gzip`: the Response hook gets the compressed bytes and `Content-Encoding: gzip`; the client gets them unchanged", bodySeenAll},
	{"gzip-answer-plain", "the same answer to a client that sends no `Accept-Encoding`: the gateway asked for gzip itself and decompressed it: the Response hook and the client get plain JSON, no `Content-Encoding`", bodySeenAll},
	{"gzip-rewrite", "the Response hook rewriting a gzip answer: decompressed and re-encoded with `tykplugin.SetResponseJSON`, the client gets plain JSON, no `Content-Encoding`, a Content-Length to match; `response.raw_body` set alone keeps the upstream's `Content-Encoding: gzip` on a body that is not gzip", bodySeenAll},
	{"chunked", "a chunked request body (no Content-Length): the Pre, Post and Response hooks get it whole, with no `Content-Length` header; the upstream gets it whole, still chunked", bodySeenAll},
	{"sse", "a server-sent-events answer (`text/event-stream`, 3 events over 1.5 s) through the Response hook: buffered: the client gets nothing until the stream ends, then every event at once, with a Content-Length; through an API with no Response hook the first event comes at once", bodySeenAll},
	{"empty", "no body (GET) and an empty POST: `body` and `raw_body` empty in every hook; the upstream gets no body", bodySeenAll},
	{"json-rewrite", "the Pre hook rewriting a JSON body with `tykplugin.SetRequestJSON`: the upstream gets the new body with a Content-Length to match; the Response hook rewriting the JSON answer with `SetResponseJSON`: the client gets it with a Content-Length to match", bodySeenAll},
	{"multipart-no-boundary", "`multipart/form-data` without a boundary: the gateway passes it on, the hooks get it whole; the upstream decides (go-httpbin: 400)", bodySeenAll},
}

const bodySeenAll = "5.8.11, 5.13.1, 5.14.0"

// The table "Bodies" in docs/gateway.md is bodyFacts.
func TestBodyFactsInDocs(t *testing.T) {
	expectFactTable(t, "Bodies", bodyFacts)
}

// bodyReply is the client's answer and what each hook saw.
type bodyReply struct {
	reply
	id string
	// first is when the first byte of the body came, from the request's
	// start; all when the last did.
	first, all time.Duration
}

// seen is what BodySeen as hook ("Pre", "Post", "Response",
// "Response-Request") got, field by field.
func (r bodyReply) seen(t *testing.T, hook string) map[string]string {
	t.Helper()
	v := r.Header.Get(returned.BodySeenHeader(hook))
	if v == "" {
		t.Fatalf("X-Request-Id %s: no %s header: the %s hook did not run (HTTP %d %.300s)", r.id, returned.BodySeenHeader(hook), hook, r.Status, r.Body)
	}
	m := map[string]string{}
	for _, f := range strings.Fields(v) {
		k, val, _ := strings.Cut(f, "=")
		m[k] = val
	}
	return m
}

// expectSeen checks that hook saw want (field → value).
func (r bodyReply) expectSeen(t *testing.T, hook string, want map[string]string) {
	t.Helper()
	got := r.seen(t, hook)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("X-Request-Id %s: the %s hook saw %s=%s, want %s (%s)", r.id, hook, k, got[k], v, r.Header.Get(returned.BodySeenHeader(hook)))
		}
	}
}

// echo is go-httpbin's /anything answer with the body it got.
type bodyEcho struct {
	upstreamEcho
	Files map[string][]string `json:"files"`
	Form  map[string][]string `json:"form"`
}

// data is the body the upstream got: go-httpbin echoes a body of a
// Content-Type it does not parse as a data URL (URL-safe base64).
func (e bodyEcho) data(t *testing.T) []byte {
	t.Helper()
	if rest, ok := strings.CutPrefix(e.Data, "data:"); ok {
		_, b64, _ := strings.Cut(rest, ";base64,")
		b, err := base64.URLEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("the upstream's data URL: %v", err)
		}
		return b
	}
	return []byte(e.Data)
}

func (r bodyReply) echo(t *testing.T) bodyEcho {
	t.Helper()
	var e bodyEcho
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &e) != nil || e.Method == "" {
		t.Fatalf("X-Request-Id %s: HTTP %d, not go-httpbin's echo: %.300s", r.id, r.Status, r.Body)
	}
	return e
}

// bodiesClient asks for nothing the request does not say: no
// Accept-Encoding of its own, no decompression.
var bodiesClient = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{DisableCompression: true}}

// bodySend sends body (nil: none; an io.Reader of unknown length: chunked)
// to path and reads the answer, timing its first and last byte.
func (l *Lab) bodySend(t *testing.T, method, path string, body io.Reader, header map[string]string) bodyReply {
	t.Helper()
	id := newID(t)
	req := l.request(t, method, path, id, body, header)
	start := time.Now()
	resp, err := bodiesClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (X-Request-Id %s): %v", method, path, id, err)
	}
	defer resp.Body.Close()
	r := bodyReply{id: id, reply: reply{Status: resp.StatusCode, Header: resp.Header}}
	var buf bytes.Buffer
	one := make([]byte, 1)
	if n, _ := io.ReadFull(resp.Body, one); n == 1 {
		r.first = time.Since(start)
		buf.Write(one)
	}
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		t.Fatalf("X-Request-Id %s: reading the answer: %v", id, err)
	}
	r.all, r.Body = time.Since(start), buf.Bytes()
	return r
}

func crc(b []byte) string { return fmt.Sprintf("%08x", crc32.ChecksumIEEE(b)) }

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// onlyReader hides a reader's length, so that the body goes chunked.
type onlyReader struct{ io.Reader }

func TestBodyFacts(t *testing.T) {
	l := getLab(t)
	jsonBody := []byte(`{"item":"tea","count":2}`)
	n := strconv.Itoa(len(jsonBody))
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	// The request hooks' view of a body sent with a Content-Length.
	twice := func(b []byte) map[string]string {
		return map[string]string{"body": strconv.Itoa(len(b)), "raw_body": strconv.Itoa(len(b)), "crc": crc(b), "content_length": strconv.Itoa(len(b))}
	}
	rawOnly := func(b []byte) map[string]string {
		return map[string]string{"body": "0", "raw_body": strconv.Itoa(len(b)), "crc": crc(b), "content_length": strconv.Itoa(len(b))}
	}

	t.Run("text", func(t *testing.T) {
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/text", bytes.NewReader(jsonBody), map[string]string{"Content-Type": "application/json"})
		for _, h := range []string{"Pre", "Post", "Response-Request"} {
			r.expectSeen(t, h, twice(jsonBody))
		}
		r.expectSeen(t, "Response", map[string]string{"body": strconv.Itoa(len(r.Body)), "raw_body": strconv.Itoa(len(r.Body)), "crc": crc(r.Body)})
		if e := r.echo(t); e.Data != string(jsonBody) {
			t.Errorf("X-Request-Id %s: the upstream got %q, want %q", r.id, e.Data, jsonBody)
		}
	})

	t.Run("raw-body-only", func(t *testing.T) {
		for _, path := range []string{"/bodies-raw/", "/oas-bodies-raw/"} {
			r := l.bodySend(t, http.MethodPost, path+"anything/raw", bytes.NewReader(jsonBody), map[string]string{"Content-Type": "application/json"})
			for _, h := range []string{"Pre", "Post", "Response-Request"} {
				r.expectSeen(t, h, rawOnly(jsonBody))
			}
			r.expectSeen(t, "Response", map[string]string{"body": "0", "raw_body": strconv.Itoa(len(r.Body)), "crc": crc(r.Body)})
			if e := r.echo(t); e.Data != string(jsonBody) {
				t.Errorf("%s X-Request-Id %s: the upstream got %q, want %q", path, r.id, e.Data, jsonBody)
			}
		}
	})

	t.Run("binary", func(t *testing.T) {
		for _, path := range []string{"/bodies/", "/bodies-raw/"} {
			r := l.bodySend(t, http.MethodPost, path+"anything/binary", bytes.NewReader(binary), map[string]string{"Content-Type": "application/octet-stream"})
			for _, h := range []string{"Pre", "Post", "Response-Request"} {
				r.expectSeen(t, h, map[string]string{"body": "0", "raw_body": "256", "crc": crc(binary), "utf8": "false"})
			}
			if got := r.echo(t).data(t); !bytes.Equal(got, binary) {
				t.Errorf("%s X-Request-Id %s: the upstream got %d bytes (crc %s), want the 256 (crc %s)", path, r.id, len(got), crc(got), crc(binary))
			}
		}
	})

	t.Run("multipart", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("note", "a field")
		fw, _ := mw.CreateFormFile("upload", "bytes.bin")
		_, _ = fw.Write(binary)
		_ = mw.Close()
		body := buf.Bytes()
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/upload", bytes.NewReader(body), map[string]string{"Content-Type": mw.FormDataContentType()})
		for _, h := range []string{"Pre", "Post", "Response-Request"} {
			r.expectSeen(t, h, map[string]string{"body": "0", "raw_body": strconv.Itoa(len(body)), "crc": crc(body), "utf8": "false"})
		}
		e := r.echo(t)
		if len(e.Form["note"]) != 1 || e.Form["note"][0] != "a field" || len(e.Files["upload"]) != 1 {
			t.Fatalf("X-Request-Id %s: the upstream parsed form %v, files %d; want the field and the file", r.id, e.Form, len(e.Files["upload"]))
		}
		// go-httpbin echoes a file as a JSON string: each byte that is not
		// UTF-8 becomes U+FFFD, as encoding/json writes it.
		var want string
		b, _ := json.Marshal(string(binary))
		_ = json.Unmarshal(b, &want)
		if f := e.Files["upload"][0]; f != want {
			t.Errorf("X-Request-Id %s: the upstream's file is %.80q, want the 256 bytes (as go-httpbin echoes them)", r.id, f)
		}
	})

	t.Run("gzip-request", func(t *testing.T) {
		gz := gzipped(t, jsonBody)
		h := map[string]string{"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/gzip", bytes.NewReader(gz), h)
		for _, hook := range []string{"Pre", "Post", "Response-Request"} {
			r.expectSeen(t, hook, map[string]string{"body": "0", "raw_body": strconv.Itoa(len(gz)), "crc": crc(gz), "content_encoding": "gzip"})
		}
		e := r.echo(t)
		if got := e.data(t); !bytes.Equal(got, gz) || strings.Join(e.Headers["Content-Encoding"], ",") != "gzip" {
			t.Errorf("X-Request-Id %s: the upstream got %d bytes (crc %s), Content-Encoding %q; want the %d compressed bytes (crc %s), gzip",
				r.id, len(got), crc(got), e.Headers["Content-Encoding"], len(gz), crc(gz))
		}
		h[returned.BodyRewriteHeader] = "Pre"
		r = l.bodySend(t, http.MethodPost, "/bodies/anything/gzip", bytes.NewReader(gz), h)
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "Middleware error") {
			t.Errorf("X-Request-Id %s: RequestJSON of a gzip body, its error returned: HTTP %d %.200s; want 500 Middleware error", r.id, r.Status, r.Body)
		}
	})

	t.Run("gzip-truncated", func(t *testing.T) {
		gz := gzipped(t, bytes.Repeat(jsonBody, 20))
		gz = gz[:len(gz)/2]
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/truncated", bytes.NewReader(gz),
			map[string]string{"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"})
		for _, hook := range []string{"Pre", "Post"} {
			r.expectSeen(t, hook, map[string]string{"raw_body": strconv.Itoa(len(gz)), "crc": crc(gz)})
		}
		if got := r.echo(t).data(t); !bytes.Equal(got, gz) {
			t.Errorf("X-Request-Id %s: the upstream got %d bytes, want the %d sent", r.id, len(got), len(gz))
		}
	})

	t.Run("gzip-answer", func(t *testing.T) {
		r := l.bodySend(t, http.MethodGet, "/bodies/gzip", nil, map[string]string{"Accept-Encoding": "gzip"})
		r.expectSeen(t, "Response", map[string]string{"body": "0", "raw_body": strconv.Itoa(len(r.Body)), "crc": crc(r.Body), "utf8": "false", "content_encoding": "gzip"})
		if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("X-Request-Id %s: HTTP %d, Content-Encoding %q; want 200, gzip", r.id, r.Status, r.Header.Get("Content-Encoding"))
		}
		if _, err := gzip.NewReader(bytes.NewReader(r.Body)); err != nil {
			t.Errorf("X-Request-Id %s: the client's body is not gzip: %v", r.id, err)
		}
	})

	t.Run("gzip-answer-plain", func(t *testing.T) {
		r := l.bodySend(t, http.MethodGet, "/bodies/gzip", nil, nil)
		r.expectSeen(t, "Response", map[string]string{"raw_body": strconv.Itoa(len(r.Body)), "crc": crc(r.Body), "utf8": "true", "content_encoding": "-"})
		var v struct{ Gzipped bool }
		if r.Header.Get("Content-Encoding") != "" || json.Unmarshal(r.Body, &v) != nil || !v.Gzipped {
			t.Errorf("X-Request-Id %s: Content-Encoding %q, body %.200q; want none and go-httpbin's plain JSON", r.id, r.Header.Get("Content-Encoding"), r.Body)
		}
	})

	t.Run("gzip-rewrite", func(t *testing.T) {
		h := map[string]string{"Accept-Encoding": "gzip", returned.BodyRewriteHeader: "Response-Gunzip"}
		r := l.bodySend(t, http.MethodGet, "/bodies/gzip", nil, h)
		var v struct {
			Gzipped     bool   `json:"gzipped"`
			RewrittenBy string `json:"rewritten_by"`
		}
		if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "" || json.Unmarshal(r.Body, &v) != nil || !v.Gzipped || v.RewrittenBy != "Response" ||
			r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
			t.Errorf("X-Request-Id %s: HTTP %d, Content-Encoding %q, Content-Length %q, body %.200q; want 200, plain JSON rewritten, its length",
				r.id, r.Status, r.Header.Get("Content-Encoding"), r.Header.Get("Content-Length"), r.Body)
		}
		h[returned.BodyRewriteHeader] = "Response-Plain"
		r = l.bodySend(t, http.MethodGet, "/bodies/gzip", nil, h)
		if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" || string(r.Body) != returned.BodyPlain {
			t.Errorf("X-Request-Id %s: HTTP %d, Content-Encoding %q, body %.200q; want 200, gzip kept, %q", r.id, r.Status, r.Header.Get("Content-Encoding"), r.Body, returned.BodyPlain)
		}
	})

	t.Run("chunked", func(t *testing.T) {
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/chunked", onlyReader{bytes.NewReader(jsonBody)}, map[string]string{"Content-Type": "application/json"})
		for _, h := range []string{"Pre", "Post", "Response-Request"} {
			r.expectSeen(t, h, map[string]string{"body": n, "raw_body": n, "crc": crc(jsonBody), "content_length": "-"})
		}
		e := r.echo(t)
		if e.Data != string(jsonBody) || len(e.Headers["Content-Length"]) != 0 {
			t.Errorf("X-Request-Id %s: the upstream got %q with Content-Length %q; want %q, chunked (no Content-Length)", r.id, e.Data, e.Headers["Content-Length"], jsonBody)
		}
	})

	t.Run("sse", func(t *testing.T) {
		const events, over = 3, 1500 * time.Millisecond
		path := fmt.Sprintf("sse?count=%d&duration=%s", events, over)
		r := l.bodySend(t, http.MethodGet, "/bodies/"+path, nil, nil)
		if r.Status != http.StatusOK || strings.Count(string(r.Body), "event: ping") != events || r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
			t.Fatalf("X-Request-Id %s: HTTP %d, Content-Length %q, body %.300q; want 200, %d events, their length", r.id, r.Status, r.Header.Get("Content-Length"), r.Body, events)
		}
		if r.first < over*8/10 {
			t.Errorf("X-Request-Id %s: the first byte after %s, want after the stream ended (%s): the Response hook buffers it", r.id, r.first, over)
		}
		t.Logf("through the Response hook: first byte after %s, all after %s", r.first.Round(time.Millisecond), r.all.Round(time.Millisecond))
		r = l.bodySend(t, http.MethodGet, "/no-plugins/"+path, nil, nil)
		if r.Status != http.StatusOK || strings.Count(string(r.Body), "event: ping") != events {
			t.Fatalf("X-Request-Id %s: /no-plugins/: HTTP %d, body %.300q; want %d events", r.id, r.Status, r.Body, events)
		}
		if r.first > over/2 {
			t.Errorf("X-Request-Id %s: /no-plugins/: the first byte after %s, want it at once", r.id, r.first)
		}
		t.Logf("without a Response hook: first byte after %s, all after %s", r.first.Round(time.Millisecond), r.all.Round(time.Millisecond))
	})

	t.Run("empty", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := l.bodySend(t, method, "/bodies/anything/empty", nil, nil)
			for _, h := range []string{"Pre", "Post", "Response-Request"} {
				r.expectSeen(t, h, map[string]string{"body": "0", "raw_body": "0"})
			}
			if e := r.echo(t); e.Data != "" {
				t.Errorf("%s X-Request-Id %s: the upstream got %q, want no body", method, r.id, e.Data)
			}
		}
	})

	t.Run("json-rewrite", func(t *testing.T) {
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/rewrite", bytes.NewReader(jsonBody),
			map[string]string{"Content-Type": "application/json", returned.BodyRewriteHeader: "Pre"})
		e := r.echo(t)
		want := `{"count":2,"item":"tea","rewritten_by":"Pre"}`
		if e.Data != want || strings.Join(e.Headers["Content-Length"], ",") != strconv.Itoa(len(want)) {
			t.Errorf("X-Request-Id %s: the upstream got %q, Content-Length %q; want %q, %d", r.id, e.Data, e.Headers["Content-Length"], want, len(want))
		}
		r = l.bodySend(t, http.MethodPost, "/bodies/anything/rewrite", bytes.NewReader(jsonBody),
			map[string]string{"Content-Type": "application/json", returned.BodyRewriteHeader: "Response"})
		var v map[string]any
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &v) != nil || v["rewritten_by"] != "Response" || r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
			t.Errorf("X-Request-Id %s: HTTP %d, Content-Length %q, body %.200q; want 200, the echo rewritten, its length", r.id, r.Status, r.Header.Get("Content-Length"), r.Body)
		}
	})

	t.Run("multipart-no-boundary", func(t *testing.T) {
		body := []byte("--x\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\na field\r\n--x--\r\n")
		r := l.bodySend(t, http.MethodPost, "/bodies/anything/no-boundary", bytes.NewReader(body), map[string]string{"Content-Type": "multipart/form-data"})
		for _, h := range []string{"Pre", "Post"} {
			r.expectSeen(t, h, twice(body))
		}
		if r.Status != http.StatusBadRequest {
			t.Errorf("X-Request-Id %s: HTTP %d %.200s; want go-httpbin's 400", r.id, r.Status, r.Body)
		}
	})
}
