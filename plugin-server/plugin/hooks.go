package plugin

import (
	"context"
	"maps"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// Hooks maps each function name used in apis/ to its Hook. Add a name here
// when you wire a new one in an API definition (Classic:
// custom_middleware.pre / post_key_auth / post / response / auth_check;
// OAS: prePlugins, postAuthenticationPlugins, postPlugins, responsePlugins,
// authentication.custom).
//
// The examples (examples.go) are served beside them, under their own names.
func Hooks() map[string]Hook {
	hooks := map[string]Hook{
		"MyPreRequestPlugin": MyPreRequestPlugin,
		"MyResponsePlugin":   MyResponsePlugin,
	}
	maps.Copy(hooks, Examples())
	return hooks
}

// MyPreRequestPlugin runs before authentication (hook type Pre): no
// session yet. It returns the request unchanged. To add a header on the
// way upstream:
//
//	SetHeader(obj, "X-Plugin", "hello")
//
// To answer the client without calling the upstream:
//
//	Respond(obj, 403, map[string]string{"Content-Type": "application/json"}, `{"error":"no"}`)
//
// object.go has the other helpers; examples.go shows each hook type at work.
func MyPreRequestPlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}

// MyResponsePlugin runs after the upstream answered (hook type Response),
// with the request, the session and obj.Response. It returns the response
// unchanged; to change it, set obj.Response.StatusCode, or use
// SetResponseHeader and SetResponseBody.
func MyResponsePlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
	return obj, nil
}
