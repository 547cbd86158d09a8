package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig(dir string) Config {
	return Config{DataDir: dir, KafkaAddr: "127.0.0.1:0", SQSAddr: Disabled, HTTPAddr: "127.0.0.1:0", Logger: quiet}
}

func openStarted(t *testing.T, cfg Config) *Broker {
	t.Helper()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOpenStartClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openStarted(t, testConfig(dir))
	a := b.Addrs()
	if a.Kafka == "" || a.HTTP == "" || a.SQS != "" || strings.HasSuffix(a.Kafka, ":0") {
		t.Fatalf("Addrs = %+v", a)
	}
	if code, body := get(t, "http://"+a.HTTP+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if err := b.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	if _, err := b.Topics().Create("orders", 2, nil, false); err != nil {
		t.Fatal(err)
	}

	// A real Kafka client sees the topic through the broker's listener.
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, "orders")
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := md.Topics["orders"]; !ok || td.Err != nil || len(td.Partitions) != 2 {
		t.Fatalf("metadata for orders: %+v", md.Topics)
	}
	if md.Cluster != b.ClusterID() {
		t.Fatalf("cluster ID %q, want %q", md.Cluster, b.ClusterID())
	}

	clusterID := b.ClusterID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", a.Kafka, time.Second); err == nil {
		t.Fatal("Kafka listener still accepting after Close")
	}

	// Reopen: same cluster, topic still there.
	b2 := openStarted(t, testConfig(dir))
	if b2.ClusterID() != clusterID {
		t.Fatal("cluster ID changed across restart")
	}
	if tp := b2.Topics().Get("orders"); tp == nil || tp.NumPartitions() != 2 {
		t.Fatal("topic lost across restart")
	}
}

func TestLockConflict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := Open(testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Open(testConfig(dir))
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) || !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second Open: %v, want DataDirInUseError", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("second Open waited for the lock")
	}
	abs, _ := filepath.Abs(dir)
	if msg := err.Error(); !strings.Contains(msg, "data directory "+abs+" is in use by another sluice process") {
		t.Fatalf("message %q", msg)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Released on Close.
	b2, err := Open(testConfig(dir))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b2.Close()
}

func TestStartBindFailureNamesField(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t.TempDir())
	cfg.HTTPAddr = busy.Addr().String()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Start()
	if err == nil || !strings.Contains(err.Error(), "Config.HTTPAddr") {
		t.Fatalf("Start = %v, want an error naming Config.HTTPAddr", err)
	}
	if b.Addrs().Kafka != "" {
		t.Fatal("Kafka address reported after failed Start")
	}
}

func TestDisabledListeners(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.KafkaAddr, cfg.HTTPAddr = Disabled, Disabled
	b := openStarted(t, cfg)
	if a := b.Addrs(); a != (Addrs{}) {
		t.Fatalf("Addrs = %+v, want none", a)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.KafkaAddr = "localhost" }, "Config.KafkaAddr"},
		{func(c *Config) { c.HTTPAddr = "127.0.0.1:http" }, "Config.HTTPAddr"},
		{func(c *Config) { c.Settings = map[string]string{"num.partitions": "0"} }, "num.partitions"},
		{func(c *Config) { c.Settings = map[string]string{"log.retention.hour": "1"} }, `did you mean "log.retention.hours"`},
	}
	for _, tt := range tests {
		cfg := testConfig(t.TempDir())
		tt.mutate(&cfg)
		_, err := Open(cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open = %v, want an error mentioning %q", err, tt.want)
		}
	}
}

func TestSettingsReachTopics(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.KafkaAddr, cfg.HTTPAddr = Disabled, Disabled
	cfg.Settings = map[string]string{
		"num.partitions":      "3",
		"log.retention.hours": "2",
		"log.segment.bytes":   "1048576",
		"log.flush.policy":    "none",
		"broker.id":           "0",
		"num.io.threads":      "8",
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tp, err := b.Topics().Create("t", -1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if tp.NumPartitions() != 3 {
		t.Fatalf("partitions = %d, want num.partitions=3", tp.NumPartitions())
	}
	c := tp.Partition(0).Config()
	if c.RetentionMs != 2*3600*1000 || c.SegmentBytes != 1048576 || c.Flush != "none" {
		t.Fatalf("log config %+v does not carry the broker settings", c)
	}
}

func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	b := openStarted(t, testConfig(t.TempDir()))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestOpenCorruptCatalogNamesFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := Open(testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Topics().Create("x", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	path := filepath.Join(dir, "meta", "topics.meta")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	os.WriteFile(path, data, 0o644)
	if _, err := Open(testConfig(dir)); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want an error naming %s", err, path)
	}
	// The failed Open released the lock.
	if _, err := Open(testConfig(dir)); errors.Is(err, ErrDataDirInUse) {
		t.Fatal("failed Open kept the lock")
	}
}

// TestCloseWithClientsAttached closes the broker while a consumer is in a
// long-poll fetch and a producer is connected: Close must not wait for
// them, and the data produced before stays after a restart.
func TestCloseWithClientsAttached(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openStarted(t, testConfig(dir))
	if _, err := b.Topics().Create("live", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.DefaultProduceTopic("live"),
		kgo.ConsumeTopics("live"), kgo.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("one"), kgo.StringRecord("two")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if f := cl.PollFetches(ctx); f.NumRecords() != 2 {
		t.Fatalf("fetched %d records, want 2", f.NumRecords())
	}
	polling := make(chan struct{})
	go func() {
		defer close(polling)
		pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer pcancel()
		cl.PollFetches(pctx) // parked in a long poll until the broker goes
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a consumer in a long poll", d)
	}
	cl.Close()
	<-polling

	b2, err := Open(testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if end := b2.Topics().Get("live").Partition(0).EndOffset(); end != 2 {
		t.Fatalf("after restart end offset = %d, want 2", end)
	}
}
