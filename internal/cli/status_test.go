package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/queue"
)

func TestStatus(t *testing.T) {
	b, err := broker.Open(broker.Config{
		DataDir: t.TempDir(), KafkaAddr: broker.Disabled, SQSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Settings: map[string]string{
			"http.auth.token":      "tok",
			"alert.deep.kind":      "queue_depth",
			"alert.deep.target":    "jobs",
			"alert.deep.threshold": "0",
			"alert.interval":       "100ms",
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Queues().Create("jobs", nil, nil); err != nil {
		t.Fatal(err)
	}
	statusCLI := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if code := run(ctx, append([]string{"status", "--http-addr", b.Addrs().HTTP}, args...), &out, &errOut); code != wantCode {
			t.Fatalf("status %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	_, stderr := statusCLI(1)
	if !strings.Contains(stderr, "401") || !strings.Contains(stderr, "--token") {
		t.Fatalf("without token: %s", stderr)
	}
	out, _ := statusCLI(0, "--token", "tok")
	for _, want := range []string{"cluster " + b.ClusterID(), "sqs " + b.Addrs().SQS, "queues", "1, 0 visible", "groups"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	var o overview
	out, _ = statusCLI(0, "--token", "tok", "--json")
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Queues != 1 || o.Broker.ClusterID != b.ClusterID() {
		t.Fatalf("--json: %v %+v", err, o)
	}
	// A firing alert is listed.
	if _, err := b.Queues().Get("jobs").Send(context.Background(), []queue.SendInput{{Body: "x"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ = statusCLI(0, "--token", "tok")
		if strings.Contains(out, "FIRING") && strings.Contains(out, "deep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert not shown:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
