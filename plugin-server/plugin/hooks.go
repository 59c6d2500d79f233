package plugin

import (
	"context"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Hooks maps each function name used in apis/ to its Hook. Add a name here
// when you wire a new one in an API definition (Classic:
// custom_middleware.pre / post_key_auth / post / response / auth_check;
// OAS: prePlugins, postAuthenticationPlugins, postPlugins, responsePlugins,
// authentication.custom).
func Hooks() map[string]Hook {
	return map[string]Hook{
		"MyPreRequestPlugin": MyPreRequestPlugin,
		"MyResponsePlugin":   MyResponsePlugin,
	}
}

// MyPreRequestPlugin runs before authentication (hook type Pre): no
// session yet. It returns the request unchanged. To add a header on the
// way upstream:
//
//	SetHeader(obj, "X-Plugin", "hello")
//
// To answer the client without calling the upstream:
//
//	obj.Request.ReturnOverrides = &coprocess.ReturnOverrides{ResponseCode: 403, ResponseError: "no"}
func MyPreRequestPlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}

// MyResponsePlugin runs after the upstream answered (hook type Response),
// with the request, the session and obj.Response. It returns the response
// unchanged; to change it, set obj.Response.StatusCode, Headers and RawBody
// (and Body).
func MyResponsePlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}

// SetHeader makes the gateway set a request header before the request goes
// upstream (request.set_headers; the map may arrive nil).
func SetHeader(obj *coprocess.Object, name, value string) {
	if obj.Request == nil {
		obj.Request = &coprocess.MiniRequestObject{}
	}
	if obj.Request.SetHeaders == nil {
		obj.Request.SetHeaders = map[string]string{}
	}
	obj.Request.SetHeaders[name] = value
}
