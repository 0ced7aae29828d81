package oidcauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// secret stands for whatever an internal URL answers: it must never appear
// in an error or a log line (R8, R9: the issuer URL is chosen by an
// organization owner, the sign-in is anonymous; SSRF).
const secret = "INTERNAL-SECRET-7f3a"

// TestIsPublic (R8): only public unicast addresses may be dialled.
func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8":            true,
		"1.1.1.1":            true,
		"2606:4700::1111":    true,
		"64:ff9b::808:808":   true, // NAT64 of 8.8.8.8
		"127.0.0.1":          false,
		"127.1.2.3":          false,
		"10.0.0.1":           false,
		"172.16.0.1":         false,
		"192.168.1.1":        false,
		"169.254.169.254":    false, // cloud metadata
		"0.0.0.0":            false,
		"0.1.2.3":            false,
		"100.64.0.1":         false,
		"224.0.0.1":          false,
		"255.255.255.255":    false,
		"198.18.0.1":         false,
		"::1":                false,
		"::":                 false,
		"fe80::1":            false,
		"fc00::1":            false,
		"fd12:3456::1":       false,
		"ff02::1":            false,
		"::ffff:127.0.0.1":   false, // IPv4-mapped loopback
		"::ffff:10.0.0.1":    false,
		"64:ff9b::7f00:1":    false, // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe": false, // NAT64 of 169.254.169.254
		"2002:7f00:1::1":     false, // 6to4 of 127.0.0.1
		"2001:db8::1":        false,
		"::127.0.0.1":        false, // IPv4-compatible
	} {
		if got := IsPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestCheckIssuer (R8): by default issuers are https URLs of public hosts;
// AllowPrivate admits http and loopback (development, oidctest).
func TestCheckIssuer(t *testing.T) {
	strict := NewWithOptions(Options{})
	lax := NewWithOptions(Options{AllowPrivate: true})
	for _, tc := range []struct {
		issuer        string
		strict, loose bool
	}{
		{"https://idp.example.com", true, true},
		{"https://idp.example.com/realms/acme", true, true},
		{"https://8.8.8.8", true, true},
		{"http://idp.example.com", false, true},
		{"http://127.0.0.1:5556", false, true},
		{"https://127.0.0.1:5556", false, true},
		{"https://[::1]/", false, true},
		{"https://169.254.169.254/latest/meta-data", false, true},
		{"https://10.0.0.5", false, true},
		{"https://localhost/", false, true},
		{"https://idp.localhost/", false, true},
		{"https://LOCALHOST./", false, true},
		{"ftp://idp.example.com", false, false},
		{"file:///etc/passwd", false, false},
		{"gopher://127.0.0.1:6379/_INFO", false, false},
		{"https://user:pw@idp.example.com", false, false},
		{"https://idp.example.com/?a=b", false, false},
		{"https://idp.example.com/#x", false, false},
		{"idp.example.com", false, false},
		{"", false, false},
	} {
		if err := strict.CheckIssuer(tc.issuer); (err == nil) != tc.strict || (err != nil && !errors.Is(err, ErrIssuerNotAllowed)) {
			t.Errorf("default CheckIssuer(%q) = %v, want allowed %v", tc.issuer, err, tc.strict)
		}
		if err := lax.CheckIssuer(tc.issuer); (err == nil) != tc.loose {
			t.Errorf("AllowPrivate CheckIssuer(%q) = %v, want allowed %v", tc.issuer, err, tc.loose)
		}
	}
}

// TestVerifyRefusesPrivateIssuer (R8): by default, a loopback http issuer
// is refused before any request is made.
func TestVerifyRefusesPrivateIssuer(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	defer srv.Close()
	var logs bytes.Buffer
	v := NewWithOptions(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := v.Verify(t.Context(), srv.URL, "client", "groups", "a.b.c")
	if !errors.Is(err, ErrIssuerUnavailable) || !errors.Is(err, ErrIssuerNotAllowed) {
		t.Fatalf("Verify = %v, want ErrIssuerUnavailable and ErrIssuerNotAllowed", err)
	}
	if hits != 0 {
		t.Fatalf("the issuer got %d requests", hits)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no WARN log: %s", logs.String())
	}
}

// TestDialPublicOnly (R8): the default client refuses to connect to a
// non-public address whatever URL led there — the check runs on the address
// dialled, after name resolution, so DNS rebinding cannot bypass it.
func TestDialPublicOnly(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(secret)) }))
	defer srv.Close()
	v := NewWithOptions(Options{})
	// "localhost" resolves to loopback: only the dialer can tell.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/.well-known/openid-configuration"
	resp, err := v.client.Get(url)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("GET of a loopback address succeeded")
	}
	if !errors.Is(err, ErrIssuerNotAllowed) {
		t.Fatalf("GET = %v, want ErrIssuerNotAllowed", err)
	}
	if d := describe(err, "x"); !strings.Contains(d, "not public") {
		t.Fatalf("describe = %q", d)
	}
}

// TestVerifyRefusesNameOfPrivateAddress (R8): an issuer named by a host
// name passes CheckIssuer, but Verify refuses to connect once the name
// resolves to a non-public address (here the machine's own name).
func TestVerifyRefusesNameOfPrivateAddress(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		t.Skipf("%s does not resolve: %v", host, err)
	}
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err != nil || IsPublic(ip) {
			t.Skipf("%s resolves to public %s", host, a)
		}
	}
	v := NewWithOptions(Options{Logger: slog.New(slog.DiscardHandler)})
	issuer := "https://" + host + ":1"
	if err := v.CheckIssuer(issuer); err != nil {
		t.Fatalf("CheckIssuer(%s) = %v, want it to pass (names are checked when resolved)", issuer, err)
	}
	_, err = v.Verify(t.Context(), issuer, "client", "", "a.b.c")
	if !errors.Is(err, ErrIssuerUnavailable) || !errors.Is(err, ErrIssuerNotAllowed) || !strings.Contains(err.Error(), "not public") {
		t.Fatalf("Verify = %v, want ErrIssuerUnavailable and ErrIssuerNotAllowed (%s resolves to %v)", err, host, addrs)
	}
}

// TestRedirectToHTTPRefused (R8): redirects are checked like the first
// request: an https issuer cannot send the directory to plain http.
func TestRedirectToHTTPRefused(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(secret)) }))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/meta", http.StatusFound))
	defer tls.Close()
	// The test server's client trusts its certificate; the address checks
	// are then the client's business, the scheme check is not.
	v := NewWithOptions(Options{Client: tls.Client()})
	resp, err := v.client.Get(tls.URL)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("redirect to http followed")
	}
	if !errors.Is(err, ErrIssuerNotAllowed) {
		t.Fatalf("GET = %v, want ErrIssuerNotAllowed", err)
	}
}

// TestResponsesNotQuoted (R8, R9): what an issuer URL answers — an error
// page, a document that is not one, a huge body — never shows in the
// error Verify returns, nor in its logs; bodies are capped at
// MaxResponseBytes.
func TestResponsesNotQuoted(t *testing.T) {
	var srvURL string
	for name, handler := range map[string]http.HandlerFunc{
		"error status": func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, secret, http.StatusInternalServerError)
		},
		"not JSON": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>" + secret + "</html>"))
		},
		"JSON of something else": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + secret + `","jwks_uri":"` + secret + `"}`))
		},
		"too large": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + srvURL + `","x":"` + strings.Repeat(secret, MaxResponseBytes/len(secret)+1) + `"}`))
		},
		"key set error": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/keys") {
				http.Error(w, secret, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + srvURL + `","jwks_uri":"` + srvURL + `/keys"}`))
		},
		"key set not JSON": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/keys") {
				_, _ = w.Write([]byte(`{"keys": "` + secret + `"}`))
				return
			}
			_, _ = w.Write([]byte(`{"issuer":"` + srvURL + `","jwks_uri":"` + srvURL + `/keys"}`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(handler)
			defer srv.Close()
			srvURL = srv.URL
			var logs bytes.Buffer
			v := NewWithOptions(Options{AllowPrivate: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			// A token with a key ID, so that the key set is fetched.
			raw := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln"
			_, err := v.Verify(context.Background(), srv.URL, "client", "groups", raw)
			if !errors.Is(err, ErrIssuerUnavailable) {
				t.Fatalf("Verify = %v, want ErrIssuerUnavailable", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Fatalf("the response shows:\nerror: %v\nlogs: %s", err, logs.String())
			}
			if name == "too large" && !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("Verify = %v, want the size limit named", err)
			}
		})
	}
}
