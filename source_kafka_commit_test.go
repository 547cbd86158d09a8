package sluice

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestKafkaSourceConfigValidation(t *testing.T) {
	t.Parallel()
	ok := KafkaSourceConfig{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, Group: "g"}
	for _, tc := range []struct {
		field string
		edit  func(*KafkaSourceConfig)
	}{
		{"Brokers", func(c *KafkaSourceConfig) { c.Brokers = nil }},
		{"Topics", func(c *KafkaSourceConfig) { c.Topics = nil }},
		{"Topics", func(c *KafkaSourceConfig) { c.Topics = []string{""} }},
		{"Group", func(c *KafkaSourceConfig) { c.Group = "" }},
		{"CommitInterval", func(c *KafkaSourceConfig) { c.CommitInterval = -1 }},
		{"SessionTimeout", func(c *KafkaSourceConfig) { c.SessionTimeout = -1 }},
		{"RevokeTimeout", func(c *KafkaSourceConfig) { c.RevokeTimeout = -1 }},
	} {
		cfg := ok
		tc.edit(&cfg)
		_, err := NewKafkaSource(cfg)
		var ce *KafkaConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrKafkaSourceConfig) {
			t.Errorf("%s: err = %v, want a KafkaConfigError naming the field", tc.field, err)
		}
	}
}

// Records acked out of order are committed only up to the lowest unfinished
// one; a record that failed (never acked) holds the commit until it is
// dead-lettered.
func TestKafkaSourceCommitsBelowLowestUnfinished(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("orders", 1)
	b.CreateTopic("orders-dlq", 1)
	ksProduceValues(t, b, "orders", 6, 0)
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"orders"}, Group: "g1", DeadLetterTopic: "orders-dlq"})
	ctx := context.Background()

	ms := ksFetchN(t, s, 6, 10*time.Second)
	for i, m := range ms {
		if m.Offset != int64(i) || m.ID != "orders/0/"+string(rune('0'+i)) || m.Attempt != 1 || m.Source != "orders" {
			t.Fatalf("message %d: offset %d id %q attempt %d source %q", i, m.Offset, m.ID, m.Attempt, m.Source)
		}
	}
	if err := s.Ack(ctx, ms[0], ms[1], ms[3]); err != nil {
		t.Fatal(err)
	}
	ksWaitCommitted(t, b, "g1", "orders", 0, 2)

	// 2 failed: acking everything after it must not move the commit.
	if err := s.Ack(ctx, ms[4], ms[5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several commit intervals
	if got := ksCommittedOffset(t, b, "g1", "orders", 0); got != 2 {
		t.Fatalf("committed %d after acking 4 and 5 with 2 unfinished, want 2", got)
	}
	// Dead-lettering 2 finishes it.
	if err := s.DeadLetter(ctx, ms[2], Diagnostics{Attempts: 3, LastError: "boom"}); err != nil {
		t.Fatal(err)
	}
	ksWaitCommitted(t, b, "g1", "orders", 0, 6)
}

// A record that was never finished is read again by the group's next
// member: the commit never skipped it.
func TestKafkaSourceUnfinishedRecordRedelivered(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("jobs", 1)
	ksProduceValues(t, b, "jobs", 5, 0)
	ctx := context.Background()

	s1 := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"jobs"}, Group: "g"})
	ms := ksFetchN(t, s1, 5, 10*time.Second)
	s1.Ack(ctx, ms[0], ms[1], ms[3], ms[4]) // 2 "failed"
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s1.Close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := ksCommittedOffset(t, b, "g", "jobs", 0); got != 2 {
		t.Fatalf("committed after close = %d, want 2", got)
	}
	if _, err := s1.Fetch(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fetch after Close = %v, want ErrClosed", err)
	}

	s2 := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"jobs"}, Group: "g"})
	again := ksFetchN(t, s2, 3, 10*time.Second)
	if again[0].Offset != 2 || string(again[0].Body) != "v2" {
		t.Fatalf("first redelivered offset %d body %q, want 2 v2", again[0].Offset, again[0].Body)
	}
}

// DeadLetter produces the original key, value and headers plus the
// diagnostics header to the DLQ topic.
func TestKafkaSourceDeadLetter(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("in", 1)
	b.CreateTopic("in-dlq", 1)
	ksProduceRecords(t, b, &kgo.Record{Topic: "in", Key: []byte("k1"), Value: []byte("payload"), Headers: []kgo.RecordHeader{
		{Key: "trace", Value: []byte("abc")},
		{Key: DiagnosticsAttribute, Value: []byte(`{"last_error":"an older failure"}`)},
	}})
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"in"}, Group: "g", DeadLetterTopic: "in-dlq"})
	ctx := context.Background()
	m := ksFetchN(t, s, 1, 10*time.Second)[0]
	if m.Attributes["trace"] != "abc" || string(m.Key) != "k1" || string(m.Body) != "payload" {
		t.Fatalf("message = key %q body %q attrs %v", m.Key, m.Body, m.Attributes)
	}
	first := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	d := Diagnostics{Attempts: 5, LastError: "handler: boom", FirstAttempt: first, LastAttempt: first.Add(time.Second), WorkerID: "w1", WorkerVersion: "1.2.3"}
	if err := s.DeadLetter(ctx, m, d); err != nil {
		t.Fatal(err)
	}
	recs := ksReadTopic(t, b, "in-dlq", 1)
	r := recs[0]
	if string(r.Key) != "k1" || string(r.Value) != "payload" {
		t.Fatalf("dlq record key %q value %q", r.Key, r.Value)
	}
	var diagHeaders int
	dm := &Message{Attributes: map[string]string{}}
	for _, h := range r.Headers {
		dm.Attributes[h.Key] = string(h.Value)
		if h.Key == DiagnosticsAttribute {
			diagHeaders++
		}
	}
	if diagHeaders != 1 || dm.Attributes["trace"] != "abc" {
		t.Fatalf("dlq headers %v: want trace kept and exactly one %s", r.Headers, DiagnosticsAttribute)
	}
	got, ok := DiagnosticsOf(dm)
	if !ok {
		t.Fatalf("no diagnostics in %q", dm.Attributes[DiagnosticsAttribute])
	}
	if got.Source != "in" || got.Partition == nil || *got.Partition != 0 || got.Offset == nil || *got.Offset != 0 ||
		got.Attempts != 5 || got.LastError != "handler: boom" || !got.FirstAttempt.Equal(first) || got.WorkerID != "w1" || got.WorkerVersion != "1.2.3" {
		t.Fatalf("diagnostics = %+v", got)
	}
	ksWaitCommitted(t, b, "g", "in", 0, 1)
}

func TestKafkaSourceDeadLetterWithoutTopic(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("in", 1)
	ksProduceValues(t, b, "in", 1, 0)
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"in"}, Group: "g"})
	ctx := context.Background()
	m := ksFetchN(t, s, 1, 10*time.Second)[0]
	if err := s.DeadLetter(ctx, m, Diagnostics{}); !errors.Is(err, ErrNoDeadLetterTopic) {
		t.Fatalf("DeadLetter = %v, want ErrNoDeadLetterTopic", err)
	}
	if err := s.Retry(ctx, m, time.Second); !errors.Is(err, ErrRetryInPlace) {
		t.Fatalf("Retry = %v, want ErrRetryInPlace", err)
	}
	if !s.InPlaceRetry() {
		t.Fatal("InPlaceRetry = false")
	}
	if err := s.Extend(ctx, m, time.Minute); err != nil {
		t.Fatalf("Extend = %v", err)
	}
	if err := s.Ack(ctx, &Message{ID: "x"}); !errors.Is(err, ErrForeignMessage) {
		t.Fatalf("Ack of a foreign message = %v, want ErrForeignMessage", err)
	}
	time.Sleep(150 * time.Millisecond)
	if got := ksCommittedOffset(t, b, "g", "in", 0); got > 0 {
		t.Fatalf("committed %d with the only record (offset 0) unfinished, want at most 0", got)
	}
}

// A handler that runs longer than the session timeout keeps its partition:
// franz-go heartbeats in the background, so there is no poll-interval limit.
func TestKafkaSourceLongHandlerKeepsMembership(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("slow", 1)
	ksProduceValues(t, b, "slow", 2, 0)
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"slow"}, Group: "g", SessionTimeout: 600 * time.Millisecond})
	ctx := context.Background()
	ms := ksFetchN(t, s, 2, 10*time.Second)
	time.Sleep(2 * time.Second) // > 3 session timeouts without a Fetch
	if err := s.Ack(ctx, ms...); err != nil {
		t.Fatal(err)
	}
	ksWaitCommitted(t, b, "g", "slow", 0, 2)
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	if st.lost != 0 || st.revoked != 0 || st.dropped != 0 {
		t.Fatalf("stats after a long handler = %+v, want no revoke/lost", st)
	}
}

func TestKafkaSourcePause(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("p", 1)
	ksProduceValues(t, b, "p", 10, 0)
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"p"}, Group: "g"})
	ctx := context.Background()
	first := ksFetchN(t, s, 1, 10*time.Second) // the rest is likely buffered in the client

	s.Pause()
	s.Pause() // idempotent
	ksProduceValues(t, b, "p", 5, 0)
	pctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	ms, err := s.Fetch(pctx, 100)
	cancel()
	if len(ms) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch while paused = %d messages, %v; want none, deadline", len(ms), err)
	}
	s.Resume()
	s.Resume()
	rest := ksFetchN(t, s, 14, 10*time.Second)
	seen := map[int64]bool{first[0].Offset: true}
	for _, m := range rest {
		if seen[m.Offset] {
			t.Fatalf("offset %d delivered twice", m.Offset)
		}
		seen[m.Offset] = true
	}
	for off := int64(0); off < 15; off++ {
		if !seen[off] {
			t.Fatalf("offset %d missing after resume (buffered records must be held, not dropped)", off)
		}
	}
}

func TestKafkaSourceBacklog(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("lag", 2)
	old := time.Now().Add(-time.Hour)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "lag", Partition: int32(i % 2), Value: []byte("x"), Timestamp: old.Add(time.Duration(i) * time.Second)})
	}
	cl := b.KafkaClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"lag"}, Group: "g"})
	ctx := context.Background()
	bl, err := s.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bl.Depth != 10 || bl.OldestAge < 59*time.Minute || bl.OldestAge > 61*time.Minute {
		t.Fatalf("backlog before consuming = %+v, want depth 10, age ~1h", bl)
	}
	ms := ksFetchN(t, s, 10, 10*time.Second)
	var acked int
	for _, m := range ms {
		if m.Partition == 0 {
			s.Ack(ctx, m)
			acked++
		}
	}
	ksWaitCommitted(t, b, "g", "lag", 0, 5)
	if bl, err = s.Backlog(ctx); err != nil {
		t.Fatal(err)
	}
	// Partition 1 is untouched: its oldest record is the second produced.
	if bl.Depth != 5 || bl.OldestAge < 59*time.Minute {
		t.Fatalf("backlog after acking partition 0 = %+v, want depth 5", bl)
	}
	s.Ack(ctx, ms...)
	ksWaitCommitted(t, b, "g", "lag", 1, 5)
	if bl, err = s.Backlog(ctx); err != nil || bl.Depth != 0 || bl.OldestAge != 0 {
		t.Fatalf("backlog after acking all = %+v, %v; want zero", bl, err)
	}
}

func TestFirstBatchTime(t *testing.T) {
	t.Parallel()
	if _, ok := firstBatchTime(nil, 0); ok {
		t.Fatal("empty input gave a time")
	}
	if _, ok := firstBatchTime([]byte(strings.Repeat("\xff", 60)), 0); ok {
		t.Fatal("garbage gave a time")
	}
}

// Close ends every goroutine the source started (its committer and
// franz-go's), even with a Fetch blocked in a poll.
func TestKafkaSourceCloseLeavesNoGoroutines(t *testing.T) {
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("leak", 1)
	ksProduceValues(t, b, "leak", 1, 0)
	ignore := goleak.IgnoreCurrent()
	src, err := NewKafkaSource(KafkaSourceConfig{Brokers: []string{b.KafkaAddr()}, Topics: []string{"leak"}, Group: "g",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ms := ksFetchN(t, src, 1, 10*time.Second)
	src.Ack(ctx, ms...)
	fetchErr := make(chan error, 1)
	go func() { _, err := src.Fetch(ctx, 10); fetchErr <- err }() // blocks: nothing more to read
	time.Sleep(50 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := src.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if err := <-fetchErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Fetch returned %v on Close, want ErrClosed", err)
	}
	if got := ksCommittedOffset(t, b, "g", "leak", 0); got != 1 {
		t.Fatalf("committed %d after Close, want 1", got)
	}
	// The broker's side of the closed connections may outlive the client
	// by a fetch wait (FetchMaxWait, 500ms); give it a few seconds.
	var leak error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if leak = goleak.Find(ignore); leak == nil {
			return
		}
	}
	t.Fatal(leak)
}
