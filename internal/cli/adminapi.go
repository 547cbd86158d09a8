package cli

// adminapi.go: the client side of the broker's admin HTTP API
// (docs/admin-api.md, served by internal/web on the HTTP listener), shared
// by the commands that need a running broker's own view: `sluice status`
// and `sluice dlq peek`.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// httpFlags are the connection flags of the admin-API commands.
type httpFlags struct {
	addr, token, basic string
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "http-addr", envOr("SLUICE_HTTP_ADDR", "127.0.0.1:9080"), "the broker's HTTP listener, host:port or URL (env SLUICE_HTTP_ADDR)")
	fs.StringVar(&f.token, "token", os.Getenv("SLUICE_HTTP_TOKEN"), "bearer token when the broker sets http.auth.token (env SLUICE_HTTP_TOKEN)")
	fs.StringVar(&f.basic, "basic", os.Getenv("SLUICE_HTTP_BASIC"), "user:password when the broker sets http.auth.basic (env SLUICE_HTTP_BASIC)")
}

// base is the listener's URL without a trailing slash.
func (f *httpFlags) base() string {
	b := strings.TrimRight(strings.TrimSpace(f.addr), "/")
	if !strings.Contains(b, "://") {
		b = "http://" + b
	}
	return b
}

// get fetches path (with query q, may be nil) and returns the body of a 200
// answer. what prefixes error messages. An error from the transport (no
// answer at all) wraps the net error, so unreachable() can tell it apart
// from an HTTP error status.
func (f *httpFlags) get(ctx context.Context, what, path string, q url.Values) ([]byte, error) {
	u := f.base() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cli: %s: %w", what, err)
	}
	switch {
	case f.token != "":
		req.Header.Set("Authorization", "Bearer "+f.token)
	case f.basic != "":
		usr, pw, _ := strings.Cut(f.basic, ":")
		req.SetBasicAuth(usr, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cli: %s: cannot reach the broker's HTTP listener at %s (is it running? --http-addr): %w", what, f.base(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("cli: %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (pass --token or --basic)"
		}
		return nil, fmt.Errorf("cli: %s: %s: %s", what, resp.Status, msg)
	}
	return body, nil
}

// unreachable reports whether err means nothing listens at the admin
// address (connection refused) — the one case where a command may fall back
// to another protocol; an HTTP error status means the listener is there and
// answered, so falling back would hide a real problem.
func unreachable(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
