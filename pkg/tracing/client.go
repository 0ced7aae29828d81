package tracing

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	collectortracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// exportTimeout bounds one export to the receiver.
const exportTimeout = 10 * time.Second

// otlpClient is an otlptrace.Client speaking OTLP over gRPC: the
// TraceService.Export of go.opentelemetry.io/proto/otlp on a plain
// connection (no stats handler: the exporter's own calls are not traced).
//
// It stands in for otlptracegrpc on purpose. That package imports
// google.golang.org/grpc/encoding/gzip, which registers the gzip
// compressor process-wide, and from then on every gRPC call of the process
// (tracing on or off) advertises "grpc-accept-encoding: gzip": one more
// header to encode and decode per call, 5 allocations and 1.2 KB more per
// CheckPermission in BenchmarkCheckPermissionGRPC. Linking this package
// must cost a process without -otlp-endpoint nothing.
type otlpClient struct {
	endpoint string
	insecure bool

	mu     sync.Mutex
	conn   *grpc.ClientConn
	client collectortracev1.TraceServiceClient
}

// Start creates the connection; like grpc.NewClient it does no I/O.
func (c *otlpClient) Start(context.Context) error {
	creds := insecure.NewCredentials()
	if !c.insecure {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(c.endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("tracing: dialling %s: %w", c.endpoint, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.client = conn, collectortracev1.NewTraceServiceClient(conn)
	return nil
}

// Stop closes the connection.
func (c *otlpClient) Stop(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.client = nil, nil
	return err
}

// UploadTraces exports spans in one call. A failed export is reported to
// the batch span processor, which drops the batch: traces are best effort.
func (c *otlpClient) UploadTraces(ctx context.Context, spans []*tracepb.ResourceSpans) error {
	c.mu.Lock()
	client := c.client
	c.mu.Unlock()
	if client == nil {
		return fmt.Errorf("tracing: exporter to %s stopped", c.endpoint)
	}
	ctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	resp, err := client.Export(ctx, &collectortracev1.ExportTraceServiceRequest{ResourceSpans: spans})
	if err != nil {
		return fmt.Errorf("tracing: exporting to %s: %w", c.endpoint, err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedSpans() > 0 {
		return fmt.Errorf("tracing: %s rejected %d spans: %s", c.endpoint, ps.GetRejectedSpans(), ps.GetErrorMessage())
	}
	return nil
}
