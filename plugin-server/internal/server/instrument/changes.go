package instrument

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// keep copies what a plugin may change in place of the Object the gateway
// sent, so that the received object can still be shown, and compared with
// the returned one, after the plugin has run. Bodies are shared, not
// copied: strings cannot change, and a plugin that rewrites a body assigns
// a new one (changing raw_body's bytes in place would go unseen).
func keep(o *coprocess.Object) *coprocess.Object {
	if o == nil {
		return nil
	}
	k := &coprocess.Object{
		HookType: o.GetHookType(),
		HookName: o.GetHookName(),
		Metadata: maps.Clone(o.GetMetadata()),
		Spec:     o.GetSpec(), // the gateway's; a plugin's changes are ignored
	}
	if r := o.GetRequest(); r != nil {
		k.Request = &coprocess.MiniRequestObject{
			Headers:        maps.Clone(r.GetHeaders()),
			SetHeaders:     maps.Clone(r.GetSetHeaders()),
			DeleteHeaders:  slices.Clone(r.GetDeleteHeaders()),
			Body:           r.GetBody(),
			Url:            r.GetUrl(),
			Params:         maps.Clone(r.GetParams()),
			AddParams:      maps.Clone(r.GetAddParams()),
			ExtendedParams: maps.Clone(r.GetExtendedParams()),
			DeleteParams:   slices.Clone(r.GetDeleteParams()),
			Method:         r.GetMethod(),
			RequestUri:     r.GetRequestUri(),
			Scheme:         r.GetScheme(),
			RawBody:        r.GetRawBody(),
		}
		if ro := r.GetReturnOverrides(); ro != nil {
			k.Request.ReturnOverrides = &coprocess.ReturnOverrides{
				ResponseCode:  ro.GetResponseCode(),
				ResponseError: ro.GetResponseError(),
				Headers:       maps.Clone(ro.GetHeaders()),
				OverrideError: ro.GetOverrideError(),
				ResponseBody:  ro.GetResponseBody(),
			}
		}
	}
	if s := o.GetSession(); s != nil {
		k.Session = s.CloneVT()
	}
	if r := o.GetResponse(); r != nil {
		k.Response = &coprocess.ResponseObject{
			StatusCode: r.GetStatusCode(),
			RawBody:    r.GetRawBody(),
			Body:       r.GetBody(),
			Headers:    maps.Clone(r.GetHeaders()),
		}
		for _, h := range r.GetMultivalueHeaders() {
			k.Response.MultivalueHeaders = append(k.Response.MultivalueHeaders,
				&coprocess.Header{Key: h.GetKey(), Values: slices.Clone(h.GetValues())})
		}
	}
	return k
}

// Changes lists what the plugin changed between the object it received and
// the one it returned, in the words of the gateway's fields: one item per
// field, naming the headers, parameters or status involved (never their
// values, which may be secrets). Nothing changed: an empty list.
func Changes(received, returned *coprocess.Object) []string {
	var c []string
	add := func(format string, args ...any) { c = append(c, fmt.Sprintf(format, args...)) }
	mapKeys := func(field string, a, b map[string]string) {
		if k := changedKeys(a, b); k != "" {
			add("%s %s", field, k)
		}
	}
	listItems := func(field string, a, b []string) {
		if k := addedItems(a, b); k != "" {
			add("%s %s", field, k)
		}
	}

	rq, rt := received.GetRequest(), returned.GetRequest()
	mapKeys("set_headers", rq.GetSetHeaders(), rt.GetSetHeaders())
	listItems("delete_headers", rq.GetDeleteHeaders(), rt.GetDeleteHeaders())
	mapKeys("headers", rq.GetHeaders(), rt.GetHeaders())
	mapKeys("add_params", rq.GetAddParams(), rt.GetAddParams())
	listItems("delete_params", rq.GetDeleteParams(), rt.GetDeleteParams())
	mapKeys("extended_params", rq.GetExtendedParams(), rt.GetExtendedParams())
	mapKeys("params", rq.GetParams(), rt.GetParams())
	if a, b := rq.GetReturnOverrides(), rt.GetReturnOverrides(); !sameOverrides(a, b) {
		if b.GetResponseCode() != 0 {
			add("return_overrides %d", b.GetResponseCode())
		} else {
			add("return_overrides changed")
		}
	}
	if rq.GetRawBody() != nil || rt.GetRawBody() != nil {
		if !bytes.Equal(rq.GetRawBody(), rt.GetRawBody()) {
			add("raw_body changed")
		}
	}
	if rq.GetBody() != rt.GetBody() {
		add("body changed")
	}
	if rq.GetUrl() != rt.GetUrl() {
		add("url changed")
	}
	if rq.GetMethod() != rt.GetMethod() {
		add("method %s", rt.GetMethod())
	}
	if rq.GetRequestUri() != rt.GetRequestUri() {
		add("request_uri changed")
	}

	mapKeys("metadata", received.GetMetadata(), returned.GetMetadata())
	switch a, b := received.GetSession(), returned.GetSession(); {
	case a == nil && b != nil:
		add("session set")
	case a != nil && b == nil:
		add("session removed")
	case !a.EqualVT(b):
		add("session changed")
	}

	sq, st := received.GetResponse(), returned.GetResponse()
	if sq.GetStatusCode() != st.GetStatusCode() {
		add("response status %d", st.GetStatusCode())
	}
	mapKeys("response headers", sq.GetHeaders(), st.GetHeaders())
	if k := changedHeaders(sq.GetMultivalueHeaders(), st.GetMultivalueHeaders()); k != "" {
		add("response multivalue_headers %s", k)
	}
	if !bytes.Equal(sq.GetRawBody(), st.GetRawBody()) {
		add("response raw_body changed")
	}
	if sq.GetBody() != st.GetBody() {
		add("response body changed")
	}
	switch {
	case sq == nil && st != nil:
		add("response set")
	case sq != nil && st == nil:
		add("response removed")
	}
	return c
}

// changedKeys names, sorted, the keys whose values differ between a and b
// (added, changed or removed; a removed one with a leading "-").
func changedKeys(a, b map[string]string) string {
	if maps.Equal(a, b) { // the common case, without building anything
		return ""
	}
	var keys []string
	for k, v := range b {
		if av, ok := a[k]; !ok || av != v {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, "-"+k)
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// addedItems names the items of b that a lacks.
func addedItems(a, b []string) string {
	var items []string
	for _, v := range b {
		if !slices.Contains(a, v) {
			items = append(items, v)
		}
	}
	return strings.Join(items, ",")
}

// changedHeaders names the multi-value headers that differ.
func changedHeaders(a, b []*coprocess.Header) string {
	index := func(hs []*coprocess.Header) map[string]string {
		m := make(map[string]string, len(hs))
		for _, h := range hs {
			m[h.GetKey()] = strings.Join(h.GetValues(), "\x00")
		}
		return m
	}
	if len(a) == len(b) {
		same := true
		for i := range a {
			if a[i].GetKey() != b[i].GetKey() || !slices.Equal(a[i].GetValues(), b[i].GetValues()) {
				same = false
				break
			}
		}
		if same {
			return ""
		}
	}
	return changedKeys(index(a), index(b))
}

// sameOverrides compares ReturnOverrides field by field, a nil one equal to
// an empty one: neither overrides anything.
func sameOverrides(a, b *coprocess.ReturnOverrides) bool {
	return a.GetResponseCode() == b.GetResponseCode() && a.GetResponseError() == b.GetResponseError() &&
		a.GetOverrideError() == b.GetOverrideError() && a.GetResponseBody() == b.GetResponseBody() &&
		maps.Equal(a.GetHeaders(), b.GetHeaders())
}
