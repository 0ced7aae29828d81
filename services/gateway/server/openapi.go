package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"steward.dev/gen/openapiv2"
)

// openAPICacheControl lets clients and proxies keep the document for five
// minutes, then revalidate it with its ETag: it changes only with the
// gateway's binary.
const openAPICacheControl = "public, max-age=300"

// openAPIHandler serves GET (and HEAD) /openapi.json (issue 15): the one
// OpenAPI 2.0 document of every HTTP binding of the four services, which
// make generate writes to gen/openapiv2 and the gateway embeds. It is
// public, like /healthz: it describes the API, not anyone's data. Its ETag
// is a hash of the document, so a client holding it gets 304 Not Modified
// (and Range requests work, through http.ServeContent).
func openAPIHandler() http.Handler {
	sum := sha256.Sum256(openapiv2.JSON)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", openAPICacheControl)
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(openapiv2.JSON))
	})
}
