package sluice_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice"
)

// leakCheck verifies, after every cleanup of the test (the broker's
// included), that the test left no goroutine behind. Tests using it must
// not be parallel: goroutines of tests running alongside would count.
func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// blackhole is a TCP listener that accepts connections and never answers:
// a destination that is up but makes no progress, so that a producer's
// buffer fills and stays full.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// receiveAll receives and deletes until n messages arrived or ctx ends.
func receiveAll(t *testing.T, ctx context.Context, cl *sqs.Client, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	total := 0
	for total < n {
		out, err := cl.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive after %d of %d: %v", total, n, err)
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.Body)]++
			total++
			if _, err := cl.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	return got
}

// errorSink collects OnError calls.
type errorSink struct {
	mu   sync.Mutex
	msgs []string
	errs []error
}

func (s *errorSink) onError(m sluice.Message, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, string(m.Body))
	s.errs = append(s.errs, err)
}

func (s *errorSink) snapshot() ([]string, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...), append([]error(nil), s.errs...)
}
