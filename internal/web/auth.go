package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Auth protects the admin API and the dashboard. With neither Token nor
// BasicUser set, everything is open (the listener binds to loopback by
// default). /healthz is always open; /metrics is open unless Metrics.
type Auth struct {
	// Token, if set, is accepted as "Authorization: Bearer <Token>".
	Token string
	// BasicUser and BasicPassword, if BasicUser is set, are accepted as
	// HTTP basic auth.
	BasicUser, BasicPassword string
	// Metrics makes /metrics require the credentials too.
	Metrics bool
}

func (a Auth) enabled() bool { return a.Token != "" || a.BasicUser != "" }

// equal compares secrets in constant time; hashing first makes the time
// independent of the lengths as well.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// allowed reports whether r carries acceptable credentials.
func (a Auth) allowed(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if a.Token != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), a.Token) {
			return true
		}
	}
	if a.BasicUser != "" {
		if u, p, ok := r.BasicAuth(); ok {
			// Evaluate both so the time does not reveal which was wrong.
			uok, pok := equal(u, a.BasicUser), equal(p, a.BasicPassword)
			return uok && pok
		}
	}
	return false
}

// withAuth wraps h with the credential check.
func (s *Server) withAuth(h http.Handler) http.Handler {
	a := s.cfg.Auth
	if !a.enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/healthz":
		case p == "/metrics":
			if a.Metrics && !a.allowed(r) {
				s.unauthorized(w)
				return
			}
		case p != "/api" && !strings.HasPrefix(p, "/api/") && a.BasicUser == "":
			// The dashboard's files hold no data (it all comes from /api/),
			// and a browser cannot attach a bearer token to a page load: with
			// token-only auth the app loads and asks for the token when the
			// API answers 401. With basic auth the browser prompts here and
			// sends the credentials to /api/ by itself.
		case !a.allowed(r):
			s.unauthorized(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	if s.cfg.Auth.BasicUser != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	writeError(w, http.StatusUnauthorized, "unauthorized", "web: credentials required")
}
