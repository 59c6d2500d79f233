package tykplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/tykplugin/gatewaymodel"
)

// A plugin is a map of hooks by the function names the API definitions
// give them; New routes the gateway's Dispatch calls to them. Register it
// on any gRPC server: the gateway's coprocess_grpc_server points at it.
// (The lab's plugin server does this, with its instrumentation around it.)
func ExampleNew() {
	p := tykplugin.New(nil, map[string]tykplugin.Hook{
		"AddHeader": func(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {
			tykplugin.SetHeader(obj, "X-Plugin", "hello")
			return obj, nil
		},
	})
	srv := grpc.NewServer()
	coprocess.RegisterDispatcherServer(srv, p)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	// The gateway's side of one call.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	got, err := coprocess.NewDispatcherClient(conn).Dispatch(context.Background(),
		&coprocess.Object{HookType: coprocess.HookType_Pre, HookName: "AddHeader", Request: &coprocess.MiniRequestObject{Method: "GET", Url: "/"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.GetRequest().GetSetHeaders())
	// Output: map[X-Plugin:hello]
}

// SetHeader and DeleteHeader change the request that goes upstream;
// changing request.headers alone does not.
func ExampleSetHeader() {
	received := &coprocess.Object{HookType: coprocess.HookType_Pre, Request: &coprocess.MiniRequestObject{
		Method: "GET", Url: "/get", RequestUri: "/get", Headers: map[string]string{"X-Secret": "s3cr3t"}}}
	obj := received.CloneVT()
	tykplugin.SetHeader(obj, "X-User", "alice")
	tykplugin.DeleteHeader(obj, "X-Secret")

	up := gatewaymodel.Apply(received, obj, nil).Upstream
	fmt.Printf("X-User=%q X-Secret=%q\n", up.Header.Get("X-User"), up.Header.Get("X-Secret"))
	// Output: X-User="alice" X-Secret=""
}

// Respond answers the client without calling the upstream, with a body of
// your own whatever the status; later hooks do not run.
func ExampleRespond() {
	received := &coprocess.Object{HookType: coprocess.HookType_Pre, Request: &coprocess.MiniRequestObject{Method: "DELETE", Url: "/orders/1", RequestUri: "/orders/1"}}
	obj := received.CloneVT()
	tykplugin.Respond(obj, 405, map[string]string{"Content-Type": "application/json"}, `{"error":"read-only API"}`)

	c := gatewaymodel.Apply(received, obj, nil).Client
	fmt.Println(c.Status, c.Header.Get("Content-Type"), string(c.Body))
	// Output: 405 application/json {"error":"read-only API"}
}

// Deny refuses a request as an authentication failure (a CustomKeyCheck
// hook's refusal): the gateway's error template, an AuthFailure event.
func ExampleDeny() {
	received := &coprocess.Object{HookType: coprocess.HookType_CustomKeyCheck, Request: &coprocess.MiniRequestObject{Method: "GET", Url: "/", RequestUri: "/"}}
	obj := received.CloneVT()
	tykplugin.Deny(obj, 403, nil, "invalid token")

	res := gatewaymodel.Apply(received, obj, nil)
	var body bytes.Buffer
	json.Compact(&body, res.Client.Body)
	fmt.Println(res.Client.Status, body.String(), res.AuthFailure)
	// Output: 403 {"error":"invalid token"} true
}

// SetResponseBody and SetResponseHeader change the client's answer in a
// Response hook.
func ExampleSetResponseBody() {
	received := &coprocess.Object{HookType: coprocess.HookType_Response,
		Request:  &coprocess.MiniRequestObject{Method: "GET", Url: "/", RequestUri: "/"},
		Response: &coprocess.ResponseObject{StatusCode: 200, RawBody: []byte(`{"a":1}`), Body: `{"a":1}`}}
	obj := received.CloneVT()
	tykplugin.SetResponseBody(obj, []byte(`{"a":1,"b":2}`))
	tykplugin.SetResponseHeader(obj, "X-Rewritten", "yes")

	c := gatewaymodel.Apply(received, obj, nil).Client
	fmt.Println(c.Status, c.Header.Get("X-Rewritten"), string(c.Body))
	// Output: 200 yes {"a":1,"b":2}
}

// One hook serves many APIs, each with its own settings: APIConfig decodes
// the API's config_data into your type, strictly, once per API.
func ExampleAPIConfig() {
	type TenantConfig struct {
		Tenant string `json:"tenant"`
	}
	var config tykplugin.APIConfig[TenantConfig]

	obj := &coprocess.Object{Spec: map[string]string{"APIID": "orders", tykplugin.SpecConfigData: `{"tenant":"acme"}`}}
	cfg, ok, err := config.Lookup(obj)
	fmt.Println(cfg.Tenant, ok, err)

	obj.Spec[tykplugin.SpecConfigData] = `{"tenant":"acme","tennant":"typo"}`
	_, _, err = config.Lookup(obj)
	fmt.Println(err)

	delete(obj.Spec, tykplugin.SpecConfigData)
	_, ok, err = config.Lookup(obj)
	fmt.Println(ok, err)
	// Output:
	// acme true <nil>
	// API "orders": config_data does not decode into tykplugin_test.TenantConfig: json: unknown field "tennant"
	// false <nil>
}
