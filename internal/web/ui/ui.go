// Package ui is the web dashboard: a single-page app (index.html; lib.js,
// pages.js, dlq.js and app.js; style.css; favicon.svg) embedded in the binary and served by Handler. It
// needs no network beyond the broker: no CDN, no web fonts, no build step.
// Everything it shows comes from the admin API under /api/ (see
// docs/admin-api.md), which internal/web serves beside it.
//
// URLs:
//
//	/, /index.html           the app shell. Cache-Control: no-cache + ETag, so a
//	                         browser revalidates it (a 304 when unchanged) and
//	                         picks up new asset names after an upgrade.
//	/assets/<name>.<hash>.<ext>
//	                         the scripts, style.css and favicon.svg under names that
//	                         carry a hash of their content, cached for a year
//	                         as immutable: a new binary changes the name.
//	any other path without   the app shell too (SPA fallback), so a page URL
//	a dot in its last part   typed by hand opens the app; pages are addressed
//	                         by the URL fragment (#/queues/jobs) anyway.
//	/api/…                   404 in the admin API's JSON error shape: the API
//	                         mux serves real /api/ routes before this handler
//	                         sees them, and a client of the API must never get
//	                         the HTML shell for a mistyped route.
//	anything else            404.
//
// Assets are gzip-compressed once at start and served compressed to clients
// that accept gzip. Only GET and HEAD are allowed.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed index.html lib.js pages.js dlq.js app.js style.css favicon.svg
var files embed.FS

// The app's Content-Security-Policy: everything from this origin only, no
// inline script or style (the app builds its DOM with createElement and
// sets styles through the CSSOM, which the policy allows), no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file ready to serve.
type asset struct {
	ctype     string
	body      []byte
	gz        []byte // nil when compression does not pay
	etag      string // strong validator of body; gz has etag + "-gz"
	immutable bool   // hashed asset URL: cache for a year
}

type site struct {
	index  *asset
	assets map[string]*asset // by URL path, e.g. /assets/app.1a2b3c4d5e6f.js
}

// The embedded files never change while the process runs, so they are
// hashed, rewritten and compressed once, on first use.
var load = sync.OnceValue(build)

func build() *site {
	s := &site{assets: make(map[string]*asset)}
	rename := make(map[string]string) // "/assets/app.js" -> hashed path
	for _, f := range []struct{ name, ctype string }{
		{"lib.js", "text/javascript; charset=utf-8"},
		{"pages.js", "text/javascript; charset=utf-8"},
		{"dlq.js", "text/javascript; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
		{"style.css", "text/css; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	} {
		b := mustRead(f.name)
		sum := contentHash(b)
		ext := path.Ext(f.name)
		p := "/assets/" + strings.TrimSuffix(f.name, ext) + "." + sum[:12] + ext
		rename["/assets/"+f.name] = p
		s.assets[p] = newAsset(f.ctype, b, true)
	}
	// index.html names its assets as /assets/<name>; point those at the
	// hashed paths. Replacing the quoted form only touches attribute values.
	index := string(mustRead("index.html"))
	for from, to := range rename {
		index = strings.ReplaceAll(index, `"`+from+`"`, `"`+to+`"`)
	}
	s.index = newAsset("text/html; charset=utf-8", []byte(index), false)
	return s
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		// Only a broken go:embed list gets here, which the build or the
		// package's tests catch; there is no input that can cause it.
		panic("ui: embedded file missing: " + name)
	}
	return b
}

func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newAsset(ctype string, body []byte, immutable bool) *asset {
	a := &asset{ctype: ctype, body: body, etag: `"` + contentHash(body)[:20] + `"`, immutable: immutable}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid, so no error
	zw.Write(body)
	zw.Close()
	if buf.Len() < len(body)*9/10 {
		a.gz = buf.Bytes()
	}
	return a
}

// Handler serves the dashboard. Mount it at "/" after the admin API,
// /metrics and /healthz routes.
func Handler() http.Handler { return load() }

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/api" || strings.HasPrefix(p, "/api/") {
		apiNotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if a, ok := s.assets[p]; ok {
		serve(w, r, a)
		return
	}
	if strings.HasPrefix(p, "/assets/") || strings.Contains(path.Base(p), ".") && p != "/index.html" {
		// A file that is not here (an old hashed name, /favicon.ico): the
		// shell in its place would only confuse the browser.
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	serve(w, r, s.index)
}

func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, HEAD without a body and
	// Range requests; the zero time leaves Last-Modified out.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (or *)
// with a non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") == "" {
				return false
			}
			return true
		}
	}
	return false
}

// apiNotFound answers an /api/ path that no API route took, in the admin
// API's error shape.
func apiNotFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code = "not_found"
	body.Error.Message = "no such endpoint: " + r.Method + " " + r.URL.Path
	json.NewEncoder(w).Encode(body) // a struct of strings always encodes
}
