package tykplugin

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
)

// SpecConfigData is the key of obj.Spec that carries the API's
// configuration: its config_data (Classic) or
// middleware.global.pluginConfig.data.value (OAS), as JSON. The gateway
// sends it to every Dispatch of an API whose configuration is enabled and
// not empty, and leaves the key out otherwise (the lab's
// docs/gateway.md, "What the gateway sends as config_data").
const SpecConfigData = "config_data"

// APIConfig reads each API's configuration into the plugin's own type T:
// one hook serves many APIs, each with its own settings. Declare one per
// configuration type, at package level, and call Lookup in the hook:
//
//	type TenantConfig struct {
//		Header string `json:"header"`
//	}
//
//	var tenantConfig tykplugin.APIConfig[TenantConfig]
//
//	func MyHook(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
//		cfg, ok, err := tenantConfig.Lookup(obj)
//		if err != nil {
//			return nil, err // the gateway answers 500; the journal says why
//		}
//		...
//	}
//
// The configuration is decoded strictly (an unknown field or a wrong type
// is an error naming the API), once per API and configuration text: a call
// with the same text gets the cached value, and a changed configuration
// (an API reloaded with other config_data) is decoded again. The zero
// APIConfig is ready to use and safe for concurrent use. The value
// returned is shared by every call for that API: treat it as read-only.
type APIConfig[T any] struct {
	byAPI sync.Map // API id → *apiConfigEntry[T]
}

type apiConfigEntry[T any] struct {
	text string
	val  T
	err  error
}

// Lookup returns the configuration of the API obj was sent for. ok is
// false when the object carries none (no spec.config_data: the API has no
// configuration, or it is disabled or empty); an empty JSON object ({})
// gives ok true and T's zero value. err says what is wrong with a
// configuration that does not decode into T, naming the API.
func (c *APIConfig[T]) Lookup(obj *coprocess.Object) (cfg T, ok bool, err error) {
	text, ok := obj.GetSpec()[SpecConfigData]
	if !ok {
		return cfg, false, nil
	}
	apiID := obj.GetSpec()["APIID"]
	if e, hit := c.byAPI.Load(apiID); hit {
		if e := e.(*apiConfigEntry[T]); e.text == text {
			return e.val, true, e.err
		}
	}
	e := &apiConfigEntry[T]{text: text}
	e.val, e.err = decodeConfig[T](apiID, text)
	c.byAPI.Store(apiID, e)
	return e.val, true, e.err
}

// decodeConfig decodes one configuration text strictly.
func decodeConfig[T any](apiID, text string) (T, error) {
	var v T
	if err := decodeStrict([]byte(text), &v); err != nil {
		var zero T
		return zero, &ConfigError{APIID: apiID, Type: fmt.Sprintf("%T", v), Err: err}
	}
	return v, nil
}

// ConfigError is a configuration that does not decode: the API's id, the
// type it should decode into, and why it does not.
type ConfigError struct {
	APIID string
	Type  string
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("API %q: config_data does not decode into %s: %v", e.APIID, e.Type, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// GRPCStatus makes a hook that returns a ConfigError fail with
// FailedPrecondition: the API's configuration, not the request, is wrong.
// The gateway answers 500 Middleware error (403 for CustomKeyCheck) all the
// same.
func (e *ConfigError) GRPCStatus() *status.Status {
	return status.New(codes.FailedPrecondition, e.Error())
}
