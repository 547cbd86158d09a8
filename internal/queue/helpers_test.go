package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t    *testing.T
	dir  string
	meta *metastore.Store
	m    *Manager
	clk  *clock // nil: real time
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv opens a manager in a fresh directory; fake selects a fake clock.
func newEnv(t *testing.T, fake bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	if fake {
		e.clk = newClock()
	}
	e.open()
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	meta, err := metastore.Open(filepath.Join(e.dir, "meta"))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := Config{DataDir: e.dir, Meta: meta, Logger: quietLogger()}
	if e.clk != nil {
		cfg.Now = e.clk.Now
	}
	m, err := Open(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.meta, e.m = meta, m
}

func (e *env) close() {
	if e.m != nil {
		if err := e.m.Close(); err != nil {
			e.t.Errorf("Close: %v", err)
		}
		e.meta.Close()
		e.m = nil
	}
}

func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

func (e *env) create(name string, attrs map[string]string) *Queue {
	e.t.Helper()
	q, err := e.m.Create(name, attrs, nil)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", name, err)
	}
	return q
}

func (e *env) q(name string) *Queue {
	e.t.Helper()
	q := e.m.Get(name)
	if q == nil {
		e.t.Fatalf("queue %s missing", name)
	}
	return q
}

func sendBodies(t *testing.T, q *Queue, bodies ...string) []SendResult {
	t.Helper()
	in := make([]SendInput, len(bodies))
	for i, b := range bodies {
		in[i] = SendInput{Body: b}
	}
	res, err := q.Send(context.Background(), in)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Send entry %d: %v", i, r.Err)
		}
	}
	return res
}

func sendFIFO(t *testing.T, q *Queue, group, dedup, body string) SendResult {
	t.Helper()
	res, err := q.Send(context.Background(), []SendInput{{Body: body, GroupID: group, DedupID: dedup}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Send: %v %v", err, res)
	}
	return res[0]
}

func ptr[T any](v T) *T { return &v }

var noWait = ptr(time.Duration(0))

func recv(t *testing.T, q *Queue, max int, vt *int) []Message {
	t.Helper()
	msgs, err := q.Receive(context.Background(), ReceiveInput{Max: max, VisibilityTimeout: vt, WaitTime: noWait})
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msgs
}

func bodiesOf(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error %v: want code %s", err, code)
	}
}

func mustDelete(t *testing.T, q *Queue, h string) {
	t.Helper()
	if err := q.Delete(h); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}
