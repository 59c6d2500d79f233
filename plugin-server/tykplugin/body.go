package tykplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// JSON bodies in one call. The gateway sends a body as raw_body (and, for
// UTF-8 text, again as body unless the hook's raw_body_only is set), never
// decompressed; it sends on raw_body alone and sets Content-Length from
// it. The helpers read raw_body, so they work with raw_body_only on or
// off, and write raw_body with body in step as the gateway filled it
// (SetBody). The body they write is never compressed: they drop a
// Content-Encoding the message had, so that the receiver does not try to
// decompress plain JSON.

// ErrNoJSONBody is what the JSON body helpers' errors wrap when the body
// cannot be JSON: empty, compressed (a Content-Encoding), or of another
// Content-Type.
var ErrNoJSONBody = errors.New("no JSON body")

// RequestJSON decodes the request body into v (unknown fields refused,
// one JSON value only). A hook can return its error as it is: the gateway
// then answers 500.
func RequestJSON(obj *coprocess.Object, v any) error {
	r := obj.GetRequest()
	return decodeJSON("request", r.GetHeaders(), r.GetRawBody(), v)
}

// SetRequestJSON encodes v as the request body sent upstream (SetBody),
// deleting the request's Content-Encoding if it had one.
func SetRequestJSON(obj *coprocess.Object, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("tykplugin.SetRequestJSON: %w", err)
	}
	SetBody(obj, b)
	if header(obj.GetRequest().GetHeaders(), "Content-Encoding") != "" {
		DeleteHeader(obj, "Content-Encoding")
	}
	return nil
}

// ResponseJSON decodes the upstream's response body into v (Response
// hook), as RequestJSON does the request's.
func ResponseJSON(obj *coprocess.Object, v any) error {
	r := obj.GetResponse()
	return decodeJSON("response", r.GetHeaders(), r.GetRawBody(), v)
}

// SetResponseJSON encodes v as the client's response body
// (SetResponseBody), deleting the response's Content-Encoding if it had
// one.
func SetResponseJSON(obj *coprocess.Object, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("tykplugin.SetResponseJSON: %w", err)
	}
	SetResponseBody(obj, b)
	DeleteResponseHeader(obj, "Content-Encoding")
	return nil
}

func decodeJSON(which string, headers map[string]string, body []byte, v any) error {
	if enc := header(headers, "Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Errorf("the %s body is %s-encoded (the gateway does not decompress it): %w", which, enc, ErrNoJSONBody)
	}
	if ct := header(headers, "Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return fmt.Errorf("the %s body is %q: %w", which, ct, ErrNoJSONBody)
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("the %s body is empty: %w", which, ErrNoJSONBody)
	}
	if err := decodeStrict(body, v); err != nil {
		return fmt.Errorf("the %s body does not decode into %T: %w", which, v, err)
	}
	return nil
}

// decodeStrict decodes exactly one JSON value into v, refusing fields v
// does not have: a per-API configuration and a JSON body alike.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	return err
}

// header is headers[name], whatever the case of the name.
func header(headers map[string]string, name string) string {
	if v, ok := headers[name]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
