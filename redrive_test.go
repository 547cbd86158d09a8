package sluice

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// deadLetterAll runs a worker whose handler fails every message at once — with a timeout
// error for even n, a validation error for odd n — so that all land in the DLQ.
func deadLetterAll(t *testing.T, e *wEnv, n int) {
	t.Helper()
	e.send(t, e.url, n)
	w, err := NewWorker(WorkerConfig{Source: e.source(t, nil), Concurrency: 4, Logger: wQuiet(), Retry: RetryPolicy{MaxAttempts: 1},
		Handler: func(ctx context.Context, m *Message) error {
			if i, _ := strconv.Atoi(m.Attributes["n"]); i%2 == 0 {
				return errors.New("timeout talking to the database")
			}
			return errors.New("validation failed: bad field")
		}})
	if err != nil {
		t.Fatal(err)
	}
	stop := startWorker(t, w)
	wWaitFor(t, 10*time.Second, "all dead-lettered", func() bool { return w.Stats().DeadLettered == int64(n) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRedriveFiltersDryRunAndRate(t *testing.T) {
	e := newWEnvParallel(t, 30)
	deadLetterAll(t, e, 20)
	ctx := wCtx(t, 30*time.Second)
	base := RedriveConfig{Client: e.cl, From: e.dlq, Logger: wQuiet()}

	dry := base
	dry.MatchError, dry.DryRun = regexp.MustCompile(`^timeout`), true
	res, err := Redrive(ctx, dry)
	if err != nil || res != (RedriveResult{Scanned: 20, Matched: 10}) {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if v, _ := e.counts(t, e.dlq); v != 20 { // everything visible again at once
		t.Fatalf("DLQ visible %d after the dry run", v)
	}

	old := base
	old.OlderThan = time.Hour
	if res, err := Redrive(ctx, old); err != nil || res.Matched != 0 || res.Scanned != 20 {
		t.Fatalf("older than 1h: %+v %v", res, err)
	}

	one := base
	one.MatchAttributes = map[string]string{"n": "3"}
	if res, err := Redrive(ctx, one); err != nil || res.Moved != 1 {
		t.Fatalf("n=3: %+v %v", res, err)
	}

	move := base
	move.MatchError, move.RatePerSecond = regexp.MustCompile(`timeout`), 20
	start := time.Now()
	res, err = Redrive(ctx, move)
	took := time.Since(start)
	if err != nil || res.Moved != 10 || res.Matched != 10 || res.Scanned != 19 {
		t.Fatalf("move: %+v %v", res, err)
	}
	if took < 400*time.Millisecond { // 10 moves at 20/s with a burst of 1
		t.Fatalf("10 moves at 20/s took %v", took)
	}
	back := e.drain(t, e.url)
	if len(back) != 11 {
		t.Fatalf("source queue got %d back, want 11", len(back))
	}
	for _, m := range back {
		if _, has := m.MessageAttributes[DiagnosticsAttribute]; has {
			t.Fatal("redriven message keeps diagnostics")
		}
		n, _ := strconv.Atoi(aws.ToString(m.MessageAttributes["n"].StringValue))
		if n%2 != 0 && n != 3 || "m-"+strconv.Itoa(n) != aws.ToString(m.Body) {
			t.Fatalf("unexpected message %s (n=%d)", aws.ToString(m.Body), n)
		}
	}
	rest := e.drain(t, e.dlq)
	if len(rest) != 9 {
		t.Fatalf("DLQ keeps %d, want 9", len(rest))
	}
	for _, m := range rest {
		d, _ := DiagnosticsOf(&Message{Attributes: attrStrings(m.MessageAttributes)})
		if !strings.HasPrefix(d.LastError, "validation") {
			t.Fatalf("left behind: %+v", d)
		}
	}
}

func TestRedriveMaxAndExplicitDestination(t *testing.T) {
	e := newWEnvParallel(t, 30)
	deadLetterAll(t, e, 6)
	other := e.b.CreateQueue("elsewhere", nil)
	res, err := Redrive(wCtx(t, 10*time.Second), RedriveConfig{Client: e.cl, From: e.dlq, To: other, Max: 4, Logger: wQuiet()})
	if err != nil || res.Moved != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	if v, _ := e.counts(t, other); v != 4 {
		t.Fatalf("destination has %d", v)
	}
	if v, _ := e.counts(t, e.dlq); v != 2 {
		t.Fatalf("DLQ has %d visible", v)
	}
	if _, err := Redrive(context.Background(), RedriveConfig{Client: e.cl}); err == nil {
		t.Fatal("no From: no error")
	}
}
