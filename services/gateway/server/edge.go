package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"steward.dev/pkg/authn"
)

// internalHeaderPrefixes are the HTTP headers no client may send: Steward's
// internal metadata (x-steward-actor, x-steward-client-address, ...) and
// grpc-gateway's pass-through of arbitrary metadata.
var internalHeaderPrefixes = []string{"X-Steward-", runtime.MetadataHeaderPrefix}

// edge is the first handler every request meets. It refuses, before
// anything is read or forwarded, the Service authorization scheme (401)
// and internal headers (400), and a body whose declared length exceeds
// Config.MaxBodyBytes (413). It bounds the body of the others: at most
// MaxBodyBytes are read, within Config.ReadTimeout.
func (s *Server) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range r.Header.Values("Authorization") {
			if fields := strings.Fields(v); len(fields) > 0 && strings.EqualFold(fields[0], "Service") {
				s.writeStatus(w, r, http.StatusUnauthorized, status.New(codes.Unauthenticated,
					"the Service authorization scheme is for Steward's own services and is not accepted from outside"))
				return
			}
		}
		if name := internalHeader(r.Header); name != "" {
			s.writeStatus(w, r, http.StatusBadRequest, status.Newf(codes.InvalidArgument,
				"header %s is internal to Steward and not accepted from outside", name))
			return
		}
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeStatus(w, r, http.StatusRequestEntityTooLarge, s.tooLarge())
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r = r.WithContext(r.Context())
			r.Body = &bodyReader{body: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
		}
		next.ServeHTTP(w, r)
	})
}

// internalHeader returns the first (in sorted order) header of h that is
// internal, "" if none is.
func internalHeader(h http.Header) string {
	var found []string
	for name := range h {
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		for _, prefix := range internalHeaderPrefixes {
			if strings.HasPrefix(canonical, prefix) {
				found = append(found, canonical)
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	return slices.Min(found)
}

// tooLarge is the status of a body over Config.MaxBodyBytes. Its code is
// the one gRPC gives a message over its size limit.
func (s *Server) tooLarge() *status.Status {
	return status.Newf(codes.ResourceExhausted, "the request body exceeds the gateway's limit of %d bytes", s.cfg.MaxBodyBytes)
}

// bodyReader is a request body behind the edge, limited to
// Config.MaxBodyBytes (and, by the HTTP server, to Config.ReadTimeout). It
// remembers why reading failed, for the error handler.
type bodyReader struct {
	body io.ReadCloser

	tooLarge bool  // the body exceeded the limit
	timedOut bool  // the body did not arrive in time
	err      error // the first read error other than io.EOF
}

// Read reads from the body, recording failures.
func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case b.err == nil:
		b.err = err
		var tooLarge *http.MaxBytesError
		b.tooLarge = errors.As(err, &tooLarge)
		b.timedOut = errors.Is(err, os.ErrDeadlineExceeded)
	}
	return n, err
}

// Close closes the body.
func (b *bodyReader) Close() error { return b.body.Close() }

// failure returns the read error, nil if reading has not failed.
func (b *bodyReader) failure() error { return b.err }

// limit answers 503 with Retry-After, without reading the request, when
// Config.MaxConcurrentRequests requests are already in flight.
func (s *Server) limit(next http.Handler) http.Handler {
	slots := make(chan struct{}, s.cfg.MaxConcurrentRequests)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			s.writeStatus(w, r, http.StatusServiceUnavailable, status.New(codes.Unavailable,
				"the gateway is serving as many requests as it allows; retry later"))
		}
	})
}

// routeMiddleware runs after the mux has matched a route and before the
// route's handler reads anything. A route whose RPC is not public needs
// credentials: without an Authorization header it is answered 401 at once,
// its body unread. A streaming route gets a write deadline per write, and
// a download route its delimiter-free marshaler.
func (s *Server) routeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		rt, ok := s.routes.match(r)
		if !ok {
			// Every generated route has a descriptor; fail closed.
			pat, _ := runtime.HTTPPattern(r.Context())
			s.log.ErrorContext(r.Context(), "gateway: route without an RPC descriptor; treated as needing credentials", "method", r.Method, "pattern", pat.String())
		}
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			// Tracing on: the request's span is named after its route.
			pat, _ := runtime.HTTPPattern(r.Context())
			span.SetName(r.Method + " " + pat.String())
			span.SetAttributes(semconvHTTPRoute.String(pat.String()))
		}
		if !rt.public && !hasCredentials(r) {
			s.writeStatus(w, r, http.StatusUnauthorized, status.New(codes.Unauthenticated,
				"this call needs credentials: an Authorization header with a bearer token or API key"))
			return
		}
		if rt.download {
			r.Header = r.Header.Clone()
			r.Header["Accept"] = []string{downloadMIME}
		}
		if rt.stream {
			w = &streamWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
		}
		next(w, r, params)
	}
}

// hasCredentials reports whether r carries a non-empty Authorization header.
func hasCredentials(r *http.Request) bool {
	for _, v := range r.Header.Values("Authorization") {
		if strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// streamWriter moves the write deadline forward before each write of a
// streamed response, so that Config.WriteTimeout bounds each write (a
// client that stops reading) rather than the whole download.
type streamWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *streamWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

// Write writes p within the write timeout.
func (w *streamWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// FlushError flushes within the write timeout.
func (w *streamWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Flush flushes within the write timeout.
func (w *streamWriter) Flush() { _ = w.FlushError() }

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpError is the mux's error handler: grpc-gateway's, except that a body
// that failed to arrive is answered 413 (too large) or 408 (too slow), and
// a body that does not decode gets a BadRequest field violation naming the
// field.
func (s *Server) httpError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Body.(*bodyReader); ok && b.failure() != nil {
		switch {
		case b.tooLarge:
			s.writeStatus(w, r, http.StatusRequestEntityTooLarge, s.tooLarge())
		case b.timedOut:
			s.writeStatus(w, r, http.StatusRequestTimeout, status.Newf(codes.DeadlineExceeded,
				"the request body did not arrive within %v", s.cfg.ReadTimeout))
		default:
			s.writeStatus(w, r, http.StatusBadRequest, status.New(codes.InvalidArgument, "the request body could not be read"))
		}
		return
	}
	if st, ok := status.FromError(err); ok {
		err = withFieldViolation(st).Err()
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// writeStatus answers r with code and st as JSON, as grpc-gateway answers
// errors. When r has a body it was not read: the connection is closed
// rather than drained.
func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, code int, st *status.Status) {
	body, err := s.json.Marshal(st.Proto())
	if err != nil {
		body = []byte(`{"code":13,"message":"failed to marshal error message"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.ContentLength != 0 {
		h.Set("Connection", "close")
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// forwardedMetadata is the metadata the gateway adds to every call: the
// client's address (see clientAddress), vouched for by the gateway's own
// service credential, which grants nothing else. x-forwarded-for, which
// grpc-gateway fills from the client's header, is replaced by the same
// address.
func (s *Server) forwardedMetadata(_ context.Context, r *http.Request) metadata.MD {
	md := metadata.Pairs(authn.MDProxyAuthorization, s.proxyAuthorization)
	if addr, ok := clientAddress(r, s.cfg.TrustedProxies); ok {
		md.Set(authn.MDClientAddress, addr.String())
		md.Set("x-forwarded-for", addr.String())
	}
	return md
}

// describeLimits is the log line's description of the request limits.
func (s *Server) describeLimits() []any {
	return []any{
		"max_body_bytes", s.cfg.MaxBodyBytes,
		"max_concurrent_requests", s.cfg.MaxConcurrentRequests,
		"read_timeout", s.cfg.ReadTimeout.String(),
		"write_timeout", s.cfg.WriteTimeout.String(),
		"trusted_proxies", fmt.Sprint(s.cfg.TrustedProxies),
	}
}
