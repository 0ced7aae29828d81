package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// HandlerRegistrar registers the HTTP routes of one gRPC service on mux,
// forwarding each call over conn. The Register<Service>Handler functions
// that protoc-gen-grpc-gateway generates have this type.
type HandlerRegistrar func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Service is one gRPC service whose HTTP bindings the gateway serves.
type Service struct {
	// Name is the service's full protobuf name, e.g.
	// "steward.directory.v1.DirectoryService". Its descriptor, from the
	// global registry, tells the gateway each route's RPC and rule
	// (steward.authz.v1.rule): which routes are public, and that none is
	// internal.
	Name protoreflect.FullName
	// Register registers the service's routes: its generated
	// Register<Service>Handler.
	Register HandlerRegistrar
}

// Backend is one backend service the gateway forwards to.
type Backend struct {
	// Name is the service name, e.g. "directory"; /healthz reports under it.
	Name string
	// Addr is the backend's gRPC address, e.g. "127.0.0.1:7001".
	Addr string
	// Services are the backend's gRPC services with HTTP bindings; the
	// gateway dials one connection per backend and shares it among them.
	Services []Service
}

// DefaultBackends returns the four backends at their default addresses,
// with the grpc-gateway handlers of every service that has HTTP bindings.
//
// This is the registration table: when a service's proto gains HTTP
// bindings (google.api.http), its issue adds the service and its generated
// Register<Service>Handler to the backend's Services here, and the routes are
// served as JSON from then on. The directory's, access's, licensing's and
// audit's are registered.
// steward.eventlog.v1.EventLogService is internal to the suite and is never
// registered (a test keeps it so).
func DefaultBackends() []Backend {
	return []Backend{
		{Name: "directory", Addr: "127.0.0.1:7001", Services: []Service{
			{Name: protoreflect.FullName(directoryv1.DirectoryService_ServiceDesc.ServiceName), Register: directoryv1.RegisterDirectoryServiceHandler},
		}},
		{Name: "access", Addr: "127.0.0.1:7002", Services: []Service{
			{Name: protoreflect.FullName(accessv1.AccessService_ServiceDesc.ServiceName), Register: accessv1.RegisterAccessServiceHandler},
		}},
		{Name: "licensing", Addr: "127.0.0.1:7003", Services: []Service{
			{Name: protoreflect.FullName(licensingv1.LicensingService_ServiceDesc.ServiceName), Register: licensingv1.RegisterLicensingServiceHandler},
		}},
		{Name: "audit", Addr: "127.0.0.1:7004", Services: []Service{
			{Name: protoreflect.FullName(auditv1.AuditService_ServiceDesc.ServiceName), Register: auditv1.RegisterAuditServiceHandler},
		}},
	}
}
