// Package tracing is Steward's OpenTelemetry tracing: Setup installs a
// TracerProvider exporting spans with OTLP over gRPC and the W3C Trace
// Context propagator (traceparent) when an endpoint is configured, and
// nothing at all otherwise, so that a process without -otlp-endpoint runs
// exactly the code it ran before tracing existed (the global no-op
// provider, no stats handlers on its gRPC servers and clients).
//
// What is traced when it is on: every gRPC call served (pkg/grpcserver) and
// made (pkg/grpcclient) through otelgrpc's stats handlers, health checks
// excepted, with the call's request ID as attribute RequestIDKey on the
// server span; every HTTP request of the gateway through otelhttp; and the
// event log: an event appended inside a traced request records that
// request's span context (Event.traceparent), and each consumer that
// applies it does so in a span ("eventlog.apply <type>") that is a child of
// it, so one trace spans the request and the consumers its change reached.
package tracing

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// RequestIDKey is the span attribute carrying Steward's request ID (the
// x-request-id of the call, as in the logs).
const RequestIDKey = attribute.Key("steward.request_id")

// Config says where spans go.
type Config struct {
	// Endpoint is the host:port of an OTLP/gRPC receiver (a collector,
	// Jaeger); "" (the default) disables tracing: Setup installs nothing.
	Endpoint string
	// Insecure sends spans in plaintext to an Endpoint that is not on
	// loopback; a loopback Endpoint is always reached in plaintext, any
	// other over TLS (the system roots) unless Insecure is set.
	Insecure bool
	// ServiceName is the service.name resource attribute of the process's
	// spans, e.g. "directory". Required when Endpoint is set.
	ServiceName string
}

// AddFlags registers -otlp-endpoint and -otlp-insecure on fs, defaulting to
// c's values (their environment variables, by pkg/flagenv's convention,
// are STEWARD_OTLP_ENDPOINT and STEWARD_OTLP_INSECURE).
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "otlp-endpoint", c.Endpoint, "host:port of an OTLP/gRPC trace receiver (collector, Jaeger); empty (the default) disables tracing")
	fs.BoolVar(&c.Insecure, "otlp-insecure", c.Insecure, "send traces in plaintext to a -otlp-endpoint that is not on loopback (loopback is always plaintext, others TLS)")
}

// enabled is set once Setup installed a provider.
var enabled atomic.Bool

// Enabled reports whether Setup installed tracing in this process: the
// gRPC servers and clients built from then on carry otelgrpc's stats
// handlers.
func Enabled() bool { return enabled.Load() }

// Setup installs tracing as c says, process-wide: with an Endpoint, a
// TracerProvider batching spans to it over OTLP/gRPC (the connection is
// made lazily: an absent receiver costs dropped spans, not a failure) and
// the W3C Trace Context propagator, as OpenTelemetry's globals; without
// one, nothing. The returned shutdown flushes the spans still buffered and
// stops the exporter; call it once the process's servers have stopped. A
// process sets tracing up once, before building its servers and clients.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	if c.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	if c.ServiceName == "" {
		return nil, errors.New("tracing: ServiceName is required with an Endpoint")
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return nil, fmt.Errorf("tracing: -otlp-endpoint %q is not host:port: %w", c.Endpoint, err)
	}
	// OTLP/gRPC through our own otlptrace.Client, not otlptracegrpc: see
	// otlpClient for why.
	exporter, err := otlptrace.New(ctx, &otlpClient{endpoint: c.Endpoint, insecure: c.Insecure || loopback(c.Endpoint)})
	if err != nil {
		return nil, fmt.Errorf("tracing: creating the OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", c.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	enabled.Store(true)
	return tp.Shutdown, nil
}

// loopback reports whether endpoint's host is "localhost" or a loopback
// address.
func loopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// notHealth leaves the health checks, which launchers, probes and the
// gateway's /healthz poll, out of the traces.
var notHealth = filters.Not(filters.HealthCheck())

// ServerOptions returns the grpc.ServerOption that traces the calls a
// server serves (otelgrpc's server stats handler: it takes traceparent from
// the call's metadata), or none when tracing is off.
func ServerOptions() []grpc.ServerOption {
	if !Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(notHealth)))}
}

// DialOptions returns the grpc.DialOption that traces a client's calls
// (otelgrpc's client stats handler: it sends traceparent in the call's
// metadata), or none when tracing is off.
func DialOptions() []grpc.DialOption {
	if !Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithFilter(notHealth)))}
}

// SetRequestID records id as the RequestIDKey attribute of ctx's span (a
// no-op when ctx has no recording span).
func SetRequestID(ctx context.Context, id string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(RequestIDKey.String(id))
	}
}

// Traceparent returns the W3C traceparent of ctx's span context
// ("00-<trace id>-<span id>-<flags>"), "" when ctx carries none (always,
// when tracing is off).
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// ContextWithTraceparent returns ctx carrying the remote span context that
// traceparent names, so that spans started from it are its children; ctx
// unchanged when traceparent is empty or malformed.
func ContextWithTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Tracer returns the tracer of an instrumentation scope (a package path,
// e.g. "steward.dev/pkg/eventlog") from the global provider: a no-op one
// when tracing is off.
func Tracer(scope string) trace.Tracer { return otel.Tracer(scope) }
