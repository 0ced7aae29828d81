// Package tracingtest is an in-process OTLP/gRPC trace receiver for tests:
// point a process's -otlp-endpoint (pkg/tracing Config.Endpoint) at
// Receiver.Addr and read the spans it exported.
package tracingtest

import (
	"context"
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"testing"

	collectortracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
)

// Span is one received span, flattened: its service (the resource's
// service.name), IDs in hex, name, kind and string-valued attributes.
type Span struct {
	Service  string
	TraceID  string
	SpanID   string
	ParentID string
	Name     string
	// Kind is the OTLP span kind: 1 internal, 2 server, 3 client, 4
	// producer, 5 consumer.
	Kind int32
	// Attributes holds the attributes, each value as its string form
	// (integers in decimal).
	Attributes map[string]string
	// Links are the span IDs ("<trace id>/<span id>") it links to.
	Links []string
}

// Receiver implements the OTLP TraceService on a loopback listener,
// keeping every span it receives.
type Receiver struct {
	collectortracev1.UnimplementedTraceServiceServer

	// Addr is the host:port it listens on.
	Addr string

	mu    sync.Mutex
	spans []Span
}

// Start starts a Receiver on 127.0.0.1, stopped when t ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: lis.Addr().String()}
	srv := grpc.NewServer()
	collectortracev1.RegisterTraceServiceServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return r
}

// Export keeps the spans of req.
func (r *Receiver) Export(_ context.Context, req *collectortracev1.ExportTraceServiceRequest) (*collectortracev1.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attributes(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					Service:    service,
					TraceID:    hex.EncodeToString(s.GetTraceId()),
					SpanID:     hex.EncodeToString(s.GetSpanId()),
					ParentID:   hex.EncodeToString(s.GetParentSpanId()),
					Name:       s.GetName(),
					Kind:       int32(s.GetKind()),
					Attributes: attributes(s.GetAttributes()),
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, hex.EncodeToString(l.GetTraceId())+"/"+hex.EncodeToString(l.GetSpanId()))
				}
				got = append(got, sp)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	return &collectortracev1.ExportTraceServiceResponse{}, nil
}

// Spans returns a copy of the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// attributes returns kvs as strings.
func attributes(kvs []*commonv1.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonv1.AnyValue_StringValue:
			out[kv.GetKey()] = v.GetStringValue()
		case *commonv1.AnyValue_IntValue:
			out[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonv1.AnyValue_BoolValue:
			if v.GetBoolValue() {
				out[kv.GetKey()] = "true"
			} else {
				out[kv.GetKey()] = "false"
			}
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}
