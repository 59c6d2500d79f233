// Package coprocess is Tyk Gateway's coprocess protocol for gRPC plugins:
// the Object, session, request and response messages the gateway sends,
// and the Dispatcher service a plugin server implements, generated (make
// proto) from the .proto files beside it, which are the gateway's own.
package coprocess
