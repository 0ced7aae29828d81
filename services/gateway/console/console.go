// Package console serves Steward's admin web console (issue 16): the
// single-page app that Vite builds from this directory's TypeScript into
// dist/, embedded in the gateway binary. `make console` (and so `make build`)
// builds it; a gateway compiled without a build answers 503 with how to
// build it.
//
// Every response carries a strict Content Security Policy: scripts, styles,
// images and connections from the gateway's own origin only, no inline
// script or style, no framing. Hashed assets under /assets/ are cached for a
// year; everything else, index.html included, is revalidated by ETag.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// ContentSecurityPolicy is the policy of every console response.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded file, read once, and its gzip form when that is
// smaller (scripts, styles, index.html).
type file struct {
	body, gzipped []byte
	etag          string
	kind          string
}

// Handler serves the console: a file of the build by its path, and
// index.html for any other path without an extension (the app's own routes,
// such as /members/users), so that a reload or a shared link works.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded: it exists
	}
	return handler(sub)
}

// handler serves the build in fsys.
func handler(fsys fs.FS) http.Handler {
	files := map[string]file{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		kind := mime.TypeByExtension(path.Ext(p))
		if kind == "" {
			kind = http.DetectContentType(body)
		}
		files["/"+p] = file{body: body, gzipped: gzipOf(body), etag: `"` + hex.EncodeToString(sum[:12]) + `"`, kind: kind}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		f, ok := files[p]
		switch {
		case ok && strings.HasPrefix(p, "/assets/"):
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		case ok:
			h.Set("Cache-Control", "no-cache")
		case path.Ext(p) == "" || p == "/index.html":
			f, ok = files["/index.html"]
			if !ok {
				http.Error(w, "The console is not built into this gateway: run `make console` (or `make build`) and start it again.", http.StatusServiceUnavailable)
				return
			}
			h.Set("Cache-Control", "no-cache")
		default:
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.kind)
		h.Add("Vary", "Accept-Encoding")
		body, etag := f.body, f.etag
		if f.gzipped != nil && acceptsGzip(r) {
			body, etag = f.gzipped, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// gzipOf is body compressed, or nil when compressing does not make it
// smaller by a tenth (images, tiny files).
func gzipOf(body []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if b.Len() > len(body)*9/10 {
		return nil
	}
	return b.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}
