package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// HandlerRegistrar registers the HTTP routes of one gRPC service on mux,
// forwarding each call over conn. The Register<Service>Handler functions
// that protoc-gen-grpc-gateway generates have this type.
type HandlerRegistrar func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Backend is one backend service the gateway forwards to.
type Backend struct {
	// Name is the service name, e.g. "directory"; /healthz reports under it.
	Name string
	// Addr is the backend's gRPC address, e.g. "127.0.0.1:7001".
	Addr string
	// Handlers register the HTTP routes of the backend's gRPC services; the
	// gateway dials one connection per backend and shares it among them.
	Handlers []HandlerRegistrar
}

// DefaultBackends returns the four backends at their default addresses,
// with the grpc-gateway handlers of every service that has HTTP bindings.
//
// This is the registration table: when a service's proto gains HTTP
// bindings (google.api.http), its issue adds the generated
// Register<Service>Handler to the backend's Handlers here, and the routes are
// served as JSON from then on. The directory's and access's are registered.
// steward.eventlog.v1.EventLogService is internal to the suite and
// deliberately has none.
func DefaultBackends() []Backend {
	return []Backend{
		{Name: "directory", Addr: "127.0.0.1:7001", Handlers: []HandlerRegistrar{
			directoryv1.RegisterDirectoryServiceHandler,
		}},
		{Name: "access", Addr: "127.0.0.1:7002", Handlers: []HandlerRegistrar{
			accessv1.RegisterAccessServiceHandler,
		}},
		{Name: "licensing", Addr: "127.0.0.1:7003", Handlers: []HandlerRegistrar{
			// licensingv1.RegisterLicensingServiceHandler,
		}},
		{Name: "audit", Addr: "127.0.0.1:7004", Handlers: []HandlerRegistrar{
			// auditv1.RegisterAuditServiceHandler,
		}},
	}
}
