package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// open returns a coordinator with test-friendly timeouts (min session
// 10ms, no initial rebalance delay), closed on cleanup. dir "" is memory
// only.
func open(t testing.TB, dir string, adjust ...func(*Config)) *Coordinator {
	t.Helper()
	cfg := Config{Dir: dir, MinSessionTimeout: 10 * time.Millisecond, InitialRebalanceDelay: -1, Logger: quietLogger()}
	for _, fn := range adjust {
		fn(&cfg)
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// consumerMeta is a consumer-protocol subscription to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 0
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a consumer JoinGroup for group g with the range protocol.
func joinReq(g, memberID string, session time.Duration, topics ...string) JoinRequest {
	return JoinRequest{
		Group: g, MemberID: memberID, ClientID: "test", ClientHost: "/127.0.0.1",
		SessionTimeout: session, RebalanceTimeout: session,
		ProtocolType: "consumer",
		Protocols:    []Protocol{{Name: "range", Metadata: consumerMeta(topics...)}},
	}
}

type joinAnswer struct {
	res JoinResult
	err error
}

// joinAsync runs Join in a goroutine; the answer arrives on the channel.
func joinAsync(c *Coordinator, req JoinRequest) chan joinAnswer {
	ch := make(chan joinAnswer, 1)
	go func() {
		res, err := c.Join(context.Background(), req)
		ch <- joinAnswer{res, err}
	}()
	return ch
}

func await[T any](t testing.TB, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10s", what)
	}
	panic("unreachable")
}

// joinFull performs the KIP-394 two-step join and waits for its answer.
func joinFull(t testing.TB, c *Coordinator, req JoinRequest) JoinResult {
	t.Helper()
	req.RequireKnownMemberID = true
	res, err := c.Join(context.Background(), req)
	if !errors.Is(err, ErrMemberIDRequired) || res.MemberID == "" {
		t.Fatalf("first join: %v %+v, want MEMBER_ID_REQUIRED with an id", err, res)
	}
	req.MemberID = res.MemberID
	a := await(t, joinAsync(c, req), "join")
	if a.err != nil {
		t.Fatalf("join: %v", a.err)
	}
	return a.res
}

type syncAnswer struct {
	res SyncResult
	err error
}

func syncAsync(c *Coordinator, req SyncRequest) chan syncAnswer {
	ch := make(chan syncAnswer, 1)
	go func() {
		res, err := c.Sync(context.Background(), req)
		ch <- syncAnswer{res, err}
	}()
	return ch
}

// heartbeater heartbeats a member every interval until stopped and
// records the last error.
type heartbeater struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	last error
}

func startHeartbeats(c *Coordinator, g, member string, gen int32, every time.Duration) *heartbeater {
	h := &heartbeater{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			err := c.Heartbeat(g, member, "", gen)
			h.mu.Lock()
			h.last = err
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return h
}

func (h *heartbeater) Stop() {
	close(h.stop)
	h.wg.Wait()
}

func (h *heartbeater) Last() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// eventually polls cond until it holds or 5s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func state(t testing.TB, c *Coordinator, g string) State {
	t.Helper()
	d, err := c.Describe(g)
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}
