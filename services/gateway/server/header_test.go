package server

import "testing"

// TestOutgoingHeader: the request ID and file-download headers reach HTTP
// clients under their own names; other metadata keeps the gateway prefix.
func TestOutgoingHeader(t *testing.T) {
	for key, want := range map[string]string{
		"x-request-id":        "X-Request-Id",
		"content-disposition": "Content-Disposition",
		"x-other":             "Grpc-Metadata-x-other",
	} {
		if got, ok := outgoingHeader(key); !ok || got != want {
			t.Errorf("outgoingHeader(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}
