package tracing_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"steward.dev/pkg/tracing"
	"steward.dev/pkg/tracing/tracingtest"
)

// Both tests set OpenTelemetry's process-wide globals: they run in order,
// off first, and not in parallel.

// TestSetupOffInstallsNothing: without an endpoint Setup leaves the
// globals alone, adds no stats handler and records no span context.
func TestSetupOffInstallsNothing(t *testing.T) {
	before := otel.GetTracerProvider()
	propBefore := otel.GetTextMapPropagator()
	shutdown, err := tracing.Setup(context.Background(), tracing.Config{ServiceName: "directory"})
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tracing.Enabled() {
		t.Error("Enabled after Setup without an endpoint")
	}
	if otel.GetTracerProvider() != before || otel.GetTextMapPropagator() != propBefore {
		t.Error("Setup without an endpoint replaced a global")
	}
	if n := len(tracing.ServerOptions()) + len(tracing.DialOptions()); n != 0 {
		t.Errorf("%d gRPC options with tracing off, want none", n)
	}
	// Linking the package registers no gRPC compressor: one would be
	// advertised (grpc-accept-encoding) on every call of the process.
	if c := encoding.GetCompressor("gzip"); c != nil {
		t.Error("the gzip compressor is registered: every gRPC call now advertises it")
	}
	ctx, span := otel.Tracer("test").Start(context.Background(), "x")
	defer span.End()
	if span.IsRecording() || tracing.Traceparent(ctx) != "" {
		t.Errorf("a span is recorded with tracing off (traceparent %q)", tracing.Traceparent(ctx))
	}
}

func TestSetupRejects(t *testing.T) {
	for _, c := range []tracing.Config{
		{Endpoint: "127.0.0.1:4317"},                    // no service name
		{Endpoint: "no-port", ServiceName: "directory"}, // not host:port
	} {
		if _, err := tracing.Setup(context.Background(), c); err == nil {
			t.Errorf("Setup(%+v) succeeded", c)
		}
	}
	if tracing.Enabled() {
		t.Error("Enabled after failed Setups")
	}
}

// TestSetupOnExports: with an endpoint, a traced gRPC call (client and
// server stats handlers) and a span started from a traceparent reach the
// receiver, in one trace, under the service name.
func TestSetupOnExports(t *testing.T) {
	rec := tracingtest.Start(t)
	shutdown, err := tracing.Setup(context.Background(), tracing.Config{Endpoint: rec.Addr, ServiceName: "directory"})
	if err != nil {
		t.Fatal(err)
	}
	if !tracing.Enabled() || len(tracing.ServerOptions()) != 1 || len(tracing.DialOptions()) != 1 {
		t.Fatal("tracing not enabled by Setup with an endpoint")
	}

	ctx, root := tracing.Tracer("test").Start(context.Background(), "root")
	tp := tracing.Traceparent(ctx)
	if len(tp) != 55 || tp[:3] != "00-" || tp[len(tp)-3:] != "-01" {
		t.Fatalf("Traceparent = %q", tp)
	}
	// A span started from the traceparent alone is the root's child.
	_, child := tracing.Tracer("test").Start(tracing.ContextWithTraceparent(context.Background(), tp), "child")
	child.End()
	root.End()
	if got := tracing.ContextWithTraceparent(context.Background(), "garbage"); trace.SpanContextFromContext(got).IsValid() {
		t.Error("a malformed traceparent gave a span context")
	}

	// A health check is not traced.
	srv := grpc.NewServer(tracing.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, healthServer{})
	lis := listen(t)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), append(tracing.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	spans := rec.Spans()
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
		if s.Service != "directory" {
			t.Errorf("span %s of service %q, want directory", s.Name, s.Service)
		}
	}
	r, c := byName["root"], byName["child"]
	if r.TraceID == "" || c.TraceID != r.TraceID || c.ParentID != r.SpanID {
		t.Errorf("child %+v is not root %+v's child", c, r)
	}
	if len(spans) != 2 {
		t.Errorf("got %d spans, want root and child only (no health check): %+v", len(spans), spans)
	}
}

type healthServer struct {
	healthpb.UnimplementedHealthServer
}

func (healthServer) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}
