package ui

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var assetRef = regexp.MustCompile(`"(/assets/[^"]+)"`)

// assetURLs returns the asset URLs that the served index.html names.
func assetURLs(t *testing.T) []string {
	t.Helper()
	res := get(t, "GET", "/", nil)
	var urls []string
	for _, m := range assetRef.FindAllStringSubmatch(string(body(t, res)), -1) {
		urls = append(urls, m[1])
	}
	if len(urls) != 6 {
		t.Fatalf("index.html names %d assets (%v), want 6: 4 scripts, the stylesheet, the icon", len(urls), urls)
	}
	return urls
}

func TestIndexHeaders(t *testing.T) {
	res := get(t, "GET", "/", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
			"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("GET / %s = %q, want %q", k, got, want)
		}
	}
	if etag := res.Header.Get("ETag"); !regexp.MustCompile(`^"[0-9a-f]{20}"$`).MatchString(etag) {
		t.Errorf("GET / ETag = %q, want a strong validator", etag)
	}
	b := string(body(t, res))
	if !strings.Contains(b, `<main id="main"`) {
		t.Errorf("GET / body is not the app shell:\n%s", b)
	}
	// Every reference to a local asset was rewritten to its hashed name.
	for _, name := range []string{"lib.js", "pages.js", "dlq.js", "app.js", "style.css", "favicon.svg"} {
		if strings.Contains(b, `"/assets/`+name+`"`) {
			t.Errorf("index.html still names /assets/%s without its hash", name)
		}
	}
}

func TestAssetsServedWithTypesAndLongCache(t *testing.T) {
	want := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
		".svg": "image/svg+xml",
	}
	hashed := regexp.MustCompile(`^/assets/([a-z]+)\.[0-9a-f]{12}(\.[a-z]+)$`)
	for _, u := range assetURLs(t) {
		m := hashed.FindStringSubmatch(u)
		if m == nil {
			t.Errorf("asset URL %q does not carry a content hash", u)
			continue
		}
		res := get(t, "GET", u, nil)
		if res.StatusCode != 200 {
			t.Errorf("GET %s = %d", u, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != want[m[2]] {
			t.Errorf("GET %s Content-Type = %q, want %q", u, got, want[m[2]])
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q", u, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s X-Content-Type-Options = %q", u, got)
		}
		orig, err := files.ReadFile(m[1] + m[2])
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, res); !bytes.Equal(got, orig) {
			t.Errorf("GET %s without Accept-Encoding: body differs from the embedded %s%s", u, m[1], m[2])
		}
	}
}

// The dashboard must work with no network beyond the broker: no script,
// stylesheet, font or image from elsewhere.
func TestNoExternalResources(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, name := range []string{"index.html", "lib.js", "pages.js", "dlq.js", "app.js", "style.css", "favicon.svg"} {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range external.FindAllString(string(b), -1) {
			if m == "http://www.w3.org" { // the SVG namespace name, never fetched
				continue
			}
			t.Errorf("%s refers to %s: the dashboard may only load from its own origin", name, m)
		}
		if bytes.Contains(b, []byte("@import")) || bytes.Contains(b, []byte("@font-face")) {
			t.Errorf("%s imports a stylesheet or a font", name)
		}
	}
}

func TestSPAFallbackAndNotFound(t *testing.T) {
	index := body(t, get(t, "GET", "/", nil))
	for _, p := range []string{"/index.html", "/queues/jobs", "/dlq/jobs-dlq", "/groups/billing/", "/x"} {
		res := get(t, "GET", p, nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s = %d %s, want the app shell", p, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		if b := body(t, res); !bytes.Equal(b, index) {
			t.Errorf("GET %s is not the app shell", p)
		}
	}
	for _, p := range []string{"/favicon.ico", "/missing.js", "/assets/app.js", "/assets/app.000000000000.js", "/assets/", "/queues/jobs.css"} {
		res := get(t, "GET", p, nil)
		if res.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
		if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s answered HTML", p)
		}
	}
}

func TestAPIPathsGetJSON404(t *testing.T) {
	for _, p := range []string{"/api", "/api/", "/api/nope", "/api/queues/x/y/z"} {
		for _, method := range []string{"GET", "POST"} {
			res := get(t, method, p, nil)
			if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s = %d %s, want a JSON 404", method, p, res.StatusCode, res.Header.Get("Content-Type"))
				continue
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(body(t, res), &e); err != nil || e.Error.Code != "not_found" || !strings.Contains(e.Error.Message, p) {
				t.Errorf("%s %s body: %+v, %v", method, p, e, err)
			}
		}
	}
}

func TestMethods(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		res := get(t, method, "/", nil)
		if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s / = %d Allow %q, want 405 with Allow: GET, HEAD", method, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	res := get(t, "HEAD", "/", nil)
	if res.StatusCode != 200 || len(body(t, res)) != 0 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD / = %d with a body or the wrong type", res.StatusCode)
	}
}

func TestConditionalRequests(t *testing.T) {
	for _, u := range append(assetURLs(t), "/") {
		first := get(t, "GET", u, nil)
		etag := first.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s has no ETag", u)
			continue
		}
		res := get(t, "GET", u, map[string]string{"If-None-Match": etag})
		if res.StatusCode != http.StatusNotModified || len(body(t, res)) != 0 {
			t.Errorf("GET %s If-None-Match %s = %d, want 304 without a body", u, etag, res.StatusCode)
		}
		res = get(t, "GET", u, map[string]string{"If-None-Match": `"other"`})
		if res.StatusCode != 200 {
			t.Errorf("GET %s with a stale ETag = %d, want 200", u, res.StatusCode)
		}
	}
}

func TestGzip(t *testing.T) {
	for _, u := range assetURLs(t) {
		if path.Ext(u) != ".js" && path.Ext(u) != ".css" {
			continue
		}
		plain := get(t, "GET", u, nil)
		plainBody := body(t, plain)
		res := get(t, "GET", u, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s with gzip accepted: Content-Encoding %q, Vary %q", u, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
			continue
		}
		if res.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("GET %s: the gzip and identity bodies share the ETag %s", u, res.Header.Get("ETag"))
		}
		compressed := body(t, res)
		if len(compressed) >= len(plainBody) {
			t.Errorf("GET %s: gzip body %d bytes, plain %d", u, len(compressed), len(plainBody))
		}
		zr, err := gzip.NewReader(bytes.NewReader(compressed))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plainBody) {
			t.Errorf("GET %s: gunzipped body differs (%v)", u, err)
		}
		if res := get(t, "GET", u, map[string]string{"Accept-Encoding": "gzip;q=0, identity"}); res.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s with gzip;q=0 was compressed", u)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"deflate, gzip;q=1.0"}, true},
		{[]string{"br", "gzip"}, true},
		{[]string{"*"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"x-gzip"}, false},
		{[]string{"identity"}, false},
	} {
		if got := acceptsGzip(tc.in); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
