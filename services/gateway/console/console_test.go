package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// TestHandler serves the build's files, index.html for the app's routes,
// 404 for a missing asset, and the CSP on every answer (issue 16).
func TestHandler(t *testing.T) {
	h := handler(fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>Steward</title>")},
		"assets/app-1a.js":  {Data: []byte("console.log(1)")},
		"favicon.svg":       {Data: []byte("<svg/>")},
		".gitkeep":          {Data: nil},
		"assets/app-1a.css": {Data: []byte("body{}")},
	})
	for _, tc := range []struct {
		method, path string
		code         int
		kind, cache  string
		body         string
	}{
		{"GET", "/", 200, "text/html", "no-cache", "<!doctype html>"},
		{"GET", "/members/users", 200, "text/html", "no-cache", "<!doctype html>"},
		{"GET", "/index.html", 200, "text/html", "no-cache", "<!doctype html>"},
		{"GET", "/assets/app-1a.js", 200, "text/javascript", "immutable", "console.log"},
		{"GET", "/assets/app-1a.css", 200, "text/css", "immutable", "body{}"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg/>"},
		{"GET", "/assets/gone-2b.js", 404, "text/plain", "", ""},
		{"GET", "/.gitkeep", 404, "text/plain", "", ""},
		{"HEAD", "/", 200, "text/html", "no-cache", ""},
		{"POST", "/", 405, "text/plain", "", ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		res := rec.Result()
		if res.StatusCode != tc.code {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, res.StatusCode, tc.code)
		}
		if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.kind) {
			t.Errorf("%s %s: Content-Type %q, want %s", tc.method, tc.path, got, tc.kind)
		}
		if got := res.Header.Get("Cache-Control"); !strings.Contains(got, tc.cache) {
			t.Errorf("%s %s: Cache-Control %q, want %s", tc.method, tc.path, got, tc.cache)
		}
		if !strings.HasPrefix(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: body %q, want %q…", tc.method, tc.path, rec.Body.String(), tc.body)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, got)
		}
	}
}

// TestHandlerRevalidates answers 304 to the ETag it gave.
func TestHandlerRevalidates(t *testing.T) {
	h := handler(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", "/users", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
}

// TestHandlerUnbuilt says how to build the console when the gateway was
// compiled without it (a fresh clone before make console).
func TestHandlerUnbuilt(t *testing.T) {
	h := handler(fstest.MapFS{".gitkeep": {}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/members", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make console") {
		t.Errorf("unbuilt: %d %q", rec.Code, rec.Body.String())
	}
}

// TestHandlerGzip serves scripts gzipped to a client that accepts it, with
// its own ETag, and plain to one that does not.
func TestHandlerGzip(t *testing.T) {
	js := strings.Repeat("export const x = 1;\n", 200)
	h := handler(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}, "assets/a-1.js": {Data: []byte(js)}})
	for _, tc := range []struct {
		accept string
		gz     bool
	}{{"gzip, deflate, br", true}, {"br;q=1.0, gzip;q=0.8", true}, {"gzip;q=0", false}, {"", false}, {"identity", false}} {
		req := httptest.NewRequest("GET", "/assets/a-1.js", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body []byte
		if rec.Header().Get("Content-Encoding") == "gzip" {
			if !tc.gz {
				t.Errorf("Accept-Encoding %q: gzipped", tc.accept)
				continue
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(rec.Header().Get("ETag"), `-gz"`) {
				t.Errorf("gzipped ETag %q", rec.Header().Get("ETag"))
			}
		} else {
			if tc.gz {
				t.Errorf("Accept-Encoding %q: not gzipped", tc.accept)
			}
			body = rec.Body.Bytes()
		}
		if string(body) != js {
			t.Errorf("Accept-Encoding %q: body differs", tc.accept)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("no Vary: Accept-Encoding")
		}
	}
}
