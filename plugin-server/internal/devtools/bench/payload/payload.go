// Package payload builds the Objects the benchmarks send to a Dispatcher,
// from what a real Tyk Gateway v5.14.0 sent (internal/testkit/captures):
//
//   - Small: the Pre hook of a keyed POST (Authorization header, a 17-byte
//     JSON body), plus an X-Request-Id so that the correlation path runs.
//   - Large: the Response hook of the same request, with its key's session,
//     whose upstream answered a 16 KiB JSON body. As the gateway does, the
//     body is sent twice (response.body and response.raw_body), and like the
//     lab's echo upstream it repeats the request's Authorization header, so
//     redaction has a secret to scrub.
package payload

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/testkit/captures"
)

// LargeBodyBytes is the size of the Large object's response body.
const LargeBodyBytes = 16 << 10

// CorrelationID is the X-Request-Id both objects carry.
const CorrelationID = "bench-0000000001"

// Names of the payloads, in the order benchmarks report them.
const (
	NameSmall = "small"
	NameLarge = "large"
)

// Names lists the payloads.
func Names() []string { return []string{NameSmall, NameLarge} }

// ByName returns a fresh copy of the named payload.
func ByName(name string) (*coprocess.Object, error) {
	switch name {
	case NameSmall:
		return Small()
	case NameLarge:
		return Large()
	}
	return nil, fmt.Errorf("unknown payload %q (want %s or %s)", name, NameSmall, NameLarge)
}

// keyedPost matches the captured POST /auth/resource?a=b with a valid key.
func keyedPost(h coprocess.HookType) func(*coprocess.Object) bool {
	return func(o *coprocess.Object) bool {
		r := o.GetRequest()
		return o.GetHookType() == h && r.GetMethod() == "POST" && r.GetHeaders()["Authorization"] != ""
	}
}

// Small returns the small Pre object.
func Small() (*coprocess.Object, error) {
	o, err := captures.Find(keyedPost(coprocess.HookType_Pre))
	if err != nil {
		return nil, fmt.Errorf("small payload: %w", err)
	}
	o = proto.Clone(o).(*coprocess.Object)
	o.Request.Headers["X-Request-Id"] = CorrelationID
	return o, nil
}

// Large returns the Response object with a 16 KiB body and a session.
func Large() (*coprocess.Object, error) {
	o, err := captures.Find(func(o *coprocess.Object) bool {
		return keyedPost(coprocess.HookType_Response)(o) && o.GetSession().GetKeyId() != ""
	})
	if err != nil {
		return nil, fmt.Errorf("large payload: %w", err)
	}
	o = proto.Clone(o).(*coprocess.Object)
	o.Request.Headers["X-Request-Id"] = CorrelationID
	body := jsonBody(o.GetRequest().GetHeaders()["Authorization"], LargeBodyBytes)
	resp := o.GetResponse()
	resp.Body = string(body)
	resp.RawBody = body
	n := strconv.Itoa(len(body))
	resp.Headers["Content-Length"] = n
	for _, h := range resp.GetMultivalueHeaders() {
		if h.GetKey() == "Content-Length" {
			h.Values = []string{n}
		}
	}
	return o, nil
}

// jsonBody is a JSON document of exactly size bytes, shaped like the lab
// upstream's echo of a request carrying a list of records.
func jsonBody(authorization string, size int) []byte {
	var b strings.Builder
	b.WriteString(`{"method":"POST","uri":"/resource?a=b","headers":{"Authorization":["`)
	b.WriteString(authorization)
	b.WriteString(`"],"Content-Type":["application/json"]},"items":[`)
	const tail = `],"pad":""}`
	for i := 0; ; i++ {
		item := fmt.Sprintf(`{"id":%d,"sku":"SKU-%06d","name":"Item %d","price":%d.%02d,"tags":["bench","lab"],"in_stock":%t}`,
			i, i*7919%1000000, i, 10+i%90, i%100, i%3 != 0)
		if i > 0 {
			item = "," + item
		}
		if b.Len()+len(item)+len(tail) > size {
			break
		}
		b.WriteString(item)
	}
	b.WriteString(`],"pad":"`)
	b.WriteString(strings.Repeat("x", size-b.Len()-len(`"}`)))
	b.WriteString(`"}`)
	return []byte(b.String())
}
