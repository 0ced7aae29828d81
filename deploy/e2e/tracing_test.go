//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/tracing"
	"steward.dev/pkg/tracing/tracingtest"
)

// TestTracing is issue 15's tracing end to end: the whole suite exports to
// an in-process OTLP receiver (-otlp-endpoint on every backend and the
// gateway), and one CreateUser through the gateway, sent with a W3C
// traceparent and an X-Request-Id, yields one trace, the client's, that
// spans the gateway, the directory's CreateUser, access's permission check
// of it and the consumers that applied its directory.user.created event
// (children of the request's span), with the request ID on every server
// span.
func TestTracing(t *testing.T) {
	rec := tracingtest.Start(t)
	// The children inherit the environment: export every 100 ms instead of
	// every 5 s.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	var extra []string
	for _, name := range append(slices.Clone(backends), "gateway") {
		extra = append(extra, "-service-flag", name+"=-otlp-endpoint="+rec.Addr)
	}
	s := launch(t, extra...)
	ctx := context.Background()
	o := s.signUpOrg(ctx, "tracing")

	const (
		traceID   = "4bf92f3577b34da6a3ce929d0e0e4736"
		requestID = "e2e-tracing-create-user"
	)
	body, _ := json.Marshal(map[string]any{
		"user":            map[string]any{"nickname": "tracy", "email": "tracy@tracing.example"},
		"initialPassword": "tracy's long password",
	})
	req, err := http.NewRequest("POST", "http://"+s.addrs["gateway"]+"/v1/"+o.org+"/users?userId=tracy", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+o.token)
	req.Header.Set("X-Request-Id", requestID)
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CreateUser through the gateway: HTTP %d %s", resp.StatusCode, data)
	}
	if got := resp.Header.Get("X-Request-Id"); got != requestID {
		t.Errorf("X-Request-Id = %q, want %q", got, requestID)
	}

	// The spans arrive within a few export intervals; the consumers' once
	// they applied the event.
	var spans []tracingtest.Span
	var missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = inTrace(rec.Spans(), traceID)
		missing = missingSpans(spans)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, sp := range spans {
		t.Logf("trace %s: %-9s %-62s kind %d request_id %q parent %s", traceID[:8], sp.Service, sp.Name, sp.Kind, sp.Attributes[string(tracing.RequestIDKey)], sp.ParentID)
	}
	if len(missing) > 0 {
		t.Fatalf("trace %s lacks %s (%d spans in it, %d received in all)", traceID, strings.Join(missing, ", "), len(spans), len(rec.Spans()))
	}

	// The request ID is on every server span of the request (the
	// gateway's, the directory's and access's check) and on the applies.
	byID := map[string]tracingtest.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	for _, sp := range spans {
		server := sp.Kind == 2
		apply := strings.HasPrefix(sp.Name, "eventlog.apply ")
		if (server || apply) && sp.Attributes[string(tracing.RequestIDKey)] != requestID {
			t.Errorf("%s span %q has request ID %q, want %q", sp.Service, sp.Name, sp.Attributes[string(tracing.RequestIDKey)], requestID)
		}
		if apply {
			// A child of the directory's span that appended the event.
			parent, ok := byID[sp.ParentID]
			if !ok || parent.Service != "directory" {
				t.Errorf("%s's %q: parent %s is not a directory span of the trace", sp.Service, sp.Name, sp.ParentID)
			}
		}
	}
}

// inTrace returns the spans of trace id.
func inTrace(spans []tracingtest.Span, id string) []tracingtest.Span {
	var out []tracingtest.Span
	for _, sp := range spans {
		if sp.TraceID == id {
			out = append(out, sp)
		}
	}
	return out
}

// missingSpans says which of the spans TestTracing expects the trace lacks:
// the gateway's HTTP server span, the directory's CreateUser server span,
// access's CheckPermission server span, and at least one consumer's apply
// of directory.user.created.
func missingSpans(spans []tracingtest.Span) []string {
	want := []struct {
		what string
		ok   func(tracingtest.Span) bool
	}{
		{"the gateway's HTTP span", func(sp tracingtest.Span) bool {
			return sp.Service == "gateway" && sp.Kind == 2 && strings.HasPrefix(sp.Name, "POST ")
		}},
		{"the gateway's call to the directory", func(sp tracingtest.Span) bool {
			return sp.Service == "gateway" && sp.Kind == 3 && strings.HasSuffix(sp.Name, "/CreateUser")
		}},
		{"the directory's CreateUser", func(sp tracingtest.Span) bool {
			return sp.Service == "directory" && sp.Kind == 2 && strings.HasSuffix(sp.Name, "/CreateUser")
		}},
		{"access's permission check", func(sp tracingtest.Span) bool {
			return sp.Service == "access" && sp.Kind == 2 && strings.Contains(sp.Name, "CheckPermission")
		}},
		{"a consumer's apply of directory.user.created", func(sp tracingtest.Span) bool {
			return (sp.Service == "access" || sp.Service == "audit" || sp.Service == "licensing") &&
				sp.Name == "eventlog.apply directory.user.created"
		}},
	}
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(spans, w.ok) {
			missing = append(missing, w.what)
		}
	}
	return missing
}
