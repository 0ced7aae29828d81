package server

import (
	"net/netip"
	"strings"
	"testing"
)

// TestOutgoingHeader: the request ID, file-download and read-your-writes
// sequence headers reach HTTP clients under their own names; other metadata
// keeps the gateway prefix.
func TestOutgoingHeader(t *testing.T) {
	for key, want := range map[string]string{
		"x-request-id":                    "X-Request-Id",
		"content-disposition":             "Content-Disposition",
		"x-steward-directory-sequence":    "X-Steward-Directory-Sequence",
		"x-steward-access-sequence":       "X-Steward-Access-Sequence",
		"x-steward-some-service-sequence": "X-Steward-Some-Service-Sequence",
		"x-steward--sequence":             "Grpc-Metadata-x-steward--sequence",
		"x-steward-sequence":              "Grpc-Metadata-x-steward-sequence",
		"x-steward-actor":                 "Grpc-Metadata-x-steward-actor",
		"x-other":                         "Grpc-Metadata-x-other",
	} {
		if got, ok := outgoingHeader(key); !ok || got != want {
			t.Errorf("outgoingHeader(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// TestIncomingHeader: only the request ID and standard headers become
// metadata; Steward's internal headers and grpc-gateway's Grpc-Metadata-
// pass-through never do (issue 9 item 1: Grpc-Metadata-X-Steward-Actor used
// to arrive as x-steward-actor).
func TestIncomingHeader(t *testing.T) {
	for key, want := range map[string]string{
		"X-Request-Id":                  "x-request-id",
		"Content-Type":                  "grpcgateway-Content-Type",
		"Authorization":                 "",
		"Cookie":                        "",
		"X-Steward-Actor":               "",
		"x-steward-client-address":      "",
		"Grpc-Metadata-X-Steward-Actor": "",
		"Grpc-Metadata-Authorization":   "",
		"grpc-metadata-foo":             "",
		"X-Custom":                      "",
	} {
		got, ok := incomingHeader(key)
		if ok != (want != "") || got != want {
			t.Errorf("incomingHeader(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// TestParseTrustedProxies: CIDR prefixes and bare addresses; anything else
// is refused.
func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "[]", true},
		{"10.0.0.0/8", "[10.0.0.0/8]", true},
		{" 10.1.2.3/8 , 192.0.2.7,2001:db8::/32,", "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32]", true},
		{"::ffff:192.0.2.7", "[192.0.2.7/32]", true},
		{"10.0.0.0/33", "", false},
		{"proxy.example", "", false},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTrustedProxies(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok {
			if s := fmtPrefixes(got); s != tc.want {
				t.Errorf("ParseTrustedProxies(%q) = %s, want %s", tc.in, s, tc.want)
			}
		}
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}
