package server

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"steward.dev/pkg/tracing"
)

// semconvHTTPRoute is OpenTelemetry's http.route attribute.
const semconvHTTPRoute = attribute.Key("http.route")

// traced wraps the gateway's handler, with tracing on, in otelhttp's: each
// API request is a server span (its parent the client's W3C traceparent
// header, when sent), named after its route once the mux matched it
// (routeMiddleware), carrying the request ID the backend answered with
// (X-Request-Id) as tracing.RequestIDKey. The backend calls made under it
// are its children (pkg/grpcclient's stats handler). /healthz, /readyz and
// /metrics are not traced: probes and scrapers poll them.
func traced(next http.Handler) http.Handler {
	withID := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if id := w.Header().Get("X-Request-Id"); id != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(tracing.RequestIDKey.String(id))
		}
	})
	return otelhttp.NewHandler(withID, "gateway",
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch strings.TrimSuffix(r.URL.Path, "/") {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}
