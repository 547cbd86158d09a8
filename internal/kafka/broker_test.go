package kafka

// Shared test helpers for every test in this package (the admin API tests
// use them too):
//
//	b := newTestBroker(t)                 // registry + metastore on t.TempDir(), server on 127.0.0.1:0
//	b := newTestBroker(t, func(c *Config) { c.AutoCreateTopics = false })
//	cl := b.client(t, kgo.DefaultProduceTopic("x"))   // kgo client seeded with b.Addr, closed on cleanup
//	adm := b.admin(t)                     // kadm client
//	resp := b.request(t, req)             // one raw kmsg request, answered or t.Fatal
//	b.restart(t)                          // clean Close of server+registry+meta, reopen on the same dir
//
// Everything is closed by t.Cleanup; TestMain runs goleak.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/internal/metastore"
	"github.com/sluice-mq/sluice/internal/topic"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		runCrashChild() // never returns
	}
	goleak.VerifyTestMain(m)
}

// testBroker is an in-process broker for tests.
type testBroker struct {
	Addr   string // host:port of the Kafka listener
	Dir    string // data dir
	Server *Server
	Topics *topic.Registry
	Meta   *metastore.Store

	cfgFn  []func(*Config)
	done   chan error
	closed bool
}

func quietLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestBroker starts a registry and a Server on 127.0.0.1:0. Options
// adjust the Config (defaults: AutoCreateTopics true, 1 partition).
func newTestBroker(t testing.TB, opts ...func(*Config)) *testBroker {
	t.Helper()
	b := &testBroker{Dir: t.TempDir(), cfgFn: opts}
	b.start(t, "127.0.0.1:0")
	t.Cleanup(func() { b.stop(t) })
	return b
}

func openStorage(dir string, logger *slog.Logger) (*metastore.Store, *topic.Registry, error) {
	meta, err := metastore.Open(dir + "/meta")
	if err != nil {
		return nil, nil, err
	}
	reg, err := topic.Open(dir, meta, topic.Defaults{NumPartitions: 1}, logger)
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	return meta, reg, nil
}

func (b *testBroker) start(t testing.TB, addr string) {
	t.Helper()
	logger := quietLogger()
	meta, reg, err := openStorage(b.Dir, logger)
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	cfg := Config{Topics: reg, Meta: meta, AutoCreateTopics: true, Logger: logger}
	for _, fn := range b.cfgFn {
		fn(&cfg)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		reg.Close()
		meta.Close()
		t.Fatalf("listen: %v", err)
	}
	b.Meta, b.Topics, b.Server, b.Addr = meta, reg, NewServer(cfg), ln.Addr().String()
	b.done = make(chan error, 1)
	b.closed = false
	go func() { b.done <- b.Server.Serve(ln) }()
}

func (b *testBroker) stop(t testing.TB) {
	t.Helper()
	if b.closed {
		return
	}
	b.closed = true
	if err := b.Server.Close(); err != nil {
		t.Errorf("server close: %v", err)
	}
	select {
	case err := <-b.done:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Serve did not return after Close")
	}
	if err := b.Topics.Close(); err != nil {
		t.Errorf("registry close: %v", err)
	}
	if err := b.Meta.Close(); err != nil {
		t.Errorf("metastore close: %v", err)
	}
}

// restart closes everything cleanly and reopens on the same directory and
// the same port.
func (b *testBroker) restart(t testing.TB) {
	t.Helper()
	addr := b.Addr
	b.stop(t)
	b.start(t, addr)
}

// client returns a kgo client seeded with the broker, closed on cleanup.
func (b *testBroker) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client over a fresh kgo client.
func (b *testBroker) admin(t testing.TB) *kadm.Client {
	return kadm.NewClient(b.client(t))
}

// request sends one raw request (version negotiated by kgo unless the
// request's version is pinned with kgo's kmsg version setting) and returns
// the response.
func (b *testBroker) request(t testing.TB, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := b.client(t).Request(ctx, req)
	if err != nil {
		t.Fatalf("request %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}
