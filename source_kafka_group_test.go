package sluice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ksGroupRun consumes with one source until ctx ends, acking each fetched
// batch in reverse order (out of order within partitions) after a short
// "handler" delay per message, and records what it processed.
type ksGroupRun struct {
	name string
	src  *kafkaSource

	mu         *sync.Mutex
	seen       map[string]int // value -> times processed (shared)
	processed  atomic.Int64
	partitions sync.Map // partition -> true
}

func (g *ksGroupRun) run(ctx context.Context, t *testing.T, perMessage time.Duration) error {
	for {
		ms, err := g.src.Fetch(ctx, 50)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		time.Sleep(perMessage * time.Duration(len(ms)))
		g.mu.Lock()
		for _, m := range ms {
			g.seen[string(m.Body)]++
			g.partitions.Store(m.Partition, true)
		}
		g.mu.Unlock()
		for i := len(ms) - 1; i >= 0; i-- {
			if err := g.src.Ack(ctx, ms[i]); err != nil {
				t.Errorf("%s: ack: %v", g.name, err)
			}
		}
		g.processed.Add(int64(len(ms)))
	}
}

// Two sources in one group share the partitions; the second joining (a
// cooperative rebalance) and then the first leaving lose nothing, and any
// record processed twice is one that was in flight when its partition moved.
func TestKafkaSourceGroupRebalanceLosesNothing(t *testing.T) {
	t.Parallel()
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"cooperative-sticky", nil}, {"range (eager)", kgo.RangeBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			ksTestGroupRebalance(t, bal.b)
		})
	}
}

func ksTestGroupRebalance(t *testing.T, balancer kgo.GroupBalancer) {
	const n = 2000
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("events", 4)
	ksProduceValues(t, b, "events", n, 64)

	var mu sync.Mutex
	seen := make(map[string]int)
	unique := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	cfg := KafkaSourceConfig{Topics: []string{"events"}, Group: "shared", RevokeTimeout: 5 * time.Second, Balancer: balancer}
	a := &ksGroupRun{name: "a", src: ksNewTestKafkaSource(t, b, cfg), mu: &mu, seen: seen}
	// b is made later: a source joins the group as soon as it exists.
	bb := &ksGroupRun{name: "b", mu: &mu, seen: seen}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	aCtx, stopA := context.WithCancel(ctx)
	defer stopA()
	wg.Go(func() {
		if err := a.run(aCtx, t, time.Millisecond); err != nil {
			t.Errorf("a: %v", err)
		}
	})
	ksWaitFor(t, 20*time.Second, "a to process a quarter", func() bool { return a.processed.Load() >= n/4 })
	bb.src = ksNewTestKafkaSource(t, b, cfg)
	wg.Go(func() {
		if err := bb.run(ctx, t, time.Millisecond); err != nil {
			t.Errorf("b: %v", err)
		}
	})
	ksWaitFor(t, 20*time.Second, "b to receive records", func() bool { return bb.processed.Load() > 0 })
	a.src.mu.Lock()
	revokedByJoin := a.src.stats.revoked
	a.src.mu.Unlock()
	if revokedByJoin == 0 {
		t.Fatal("b received records but no partition was revoked from a")
	}
	ksWaitFor(t, 20*time.Second, "a to keep going after the rebalance", func() bool { return a.processed.Load() >= n/2 || unique() >= 3*n/4 })

	// a leaves the group: b takes every partition.
	stopA()
	closeCtx, closeCancel := context.WithTimeout(ctx, 10*time.Second)
	if err := a.src.Close(closeCtx); err != nil {
		t.Errorf("close a: %v", err)
	}
	closeCancel()
	ksWaitFor(t, 30*time.Second, "every record processed", func() bool { return unique() == n })
	cancel()
	wg.Wait()

	var aParts, bParts int
	a.partitions.Range(func(any, any) bool { aParts++; return true })
	bb.partitions.Range(func(any, any) bool { bParts++; return true })
	if aParts == 0 || bParts == 0 {
		t.Fatalf("partitions seen: a %d, b %d; want both to share", aParts, bParts)
	}
	mu.Lock()
	var dups int
	for _, c := range seen {
		dups += c - 1
	}
	mu.Unlock()
	a.src.mu.Lock()
	aStats := a.src.stats
	a.src.mu.Unlock()
	bb.src.mu.Lock()
	bStats := bb.src.stats
	bb.src.mu.Unlock()
	if int64(dups) > aStats.dropped+bStats.dropped {
		t.Fatalf("%d records processed twice, but only %d were dropped in flight (a %+v, b %+v)",
			dups, aStats.dropped+bStats.dropped, aStats, bStats)
	}
	t.Logf("a: %d records on %d partitions %+v; b: %d records on %d partitions %+v; duplicates %d",
		a.processed.Load(), aParts, aStats, bb.processed.Load(), bParts, bStats, dups)
}

func ksWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ksProduceSpread produces perPartition records "p<p>-<i>" to each partition
// of topic.
func ksProduceSpread(t *testing.T, b interface {
	KafkaClient(...kgo.Opt) *kgo.Client
}, topic string, partitions, perPartition int) {
	t.Helper()
	cl := b.KafkaClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func ksSourceStats(s *kafkaSource) kafkaSourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ksCollect fetches from s into a channel until ctx ends.
func ksCollect(ctx context.Context, s *kafkaSource) <-chan *Message {
	ch := make(chan *Message, 1000)
	go func() {
		defer close(ch)
		for {
			ms, err := s.Fetch(ctx, 100)
			if err != nil {
				return
			}
			for _, m := range ms {
				ch <- m
			}
		}
	}()
	return ch
}

// A revoke waits for the in-flight records of the revoked partition and
// commits them, so that the new owner starts after them: no duplicates.
func TestKafkaSourceRevokeWaitsForInFlight(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("rv", 2)
	ksProduceSpread(t, b, "rv", 2, 5)
	cfg := KafkaSourceConfig{Topics: []string{"rv"}, Group: "g", RevokeTimeout: 10 * time.Second}
	a := ksNewTestKafkaSource(t, b, cfg)
	held := ksFetchN(t, a, 10, 10*time.Second) // both partitions in flight

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs := ksNewTestKafkaSource(t, b, cfg)
	got := ksCollect(ctx, bs)
	ksWaitFor(t, 10*time.Second, "a's revoke to start", func() bool { return ksSourceStats(a).revoked > 0 })
	select {
	case m := <-got:
		t.Fatalf("b received %s while a's revoke waits for it", m.ID)
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.Ack(ctx, held...); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		ksWaitCommitted(t, b, "g", "rv", p, 5)
	}
	// New records: each partition's goes to its owner once, and nothing
	// old is delivered again.
	ksProduceSpread(t, b, "rv", 2, 1)
	aGot := ksCollect(ctx, a)
	var mine []*Message
	for len(mine) < 2 {
		select {
		case m := <-got:
			mine = append(mine, m)
		case m := <-aGot:
			mine = append(mine, m)
		case <-ctx.Done():
			t.Fatalf("only %d of the 2 new records arrived", len(mine))
		}
	}
	for _, m := range mine {
		if m.Offset != 5 {
			t.Fatalf("received %s: an old record came again after a committed revoke", m.ID)
		}
	}
	if mine[0].Partition == mine[1].Partition {
		t.Fatalf("both new records from partition %d", mine[0].Partition)
	}
	if st := ksSourceStats(a); st.dropped != 0 || st.revoked != 1 {
		t.Fatalf("a stats %+v, want 1 revoked, 0 dropped", st)
	}
}

// When in-flight records outlast RevokeTimeout, the partition is given up
// without them: the new owner reads them again, and their late acks do not
// move the new owner's commit.
func TestKafkaSourceRevokeTimeoutDropsInFlight(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("rt", 2)
	ksProduceSpread(t, b, "rt", 2, 5)
	cfg := KafkaSourceConfig{Topics: []string{"rt"}, Group: "g", RevokeTimeout: 300 * time.Millisecond}
	a := ksNewTestKafkaSource(t, b, cfg)
	held := ksFetchN(t, a, 10, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs := ksNewTestKafkaSource(t, b, cfg)
	got := ksCollect(ctx, bs)
	var again []*Message
	for len(again) < 5 {
		select {
		case m := <-got:
			again = append(again, m)
		case <-ctx.Done():
			t.Fatalf("b got %d of the 5 dropped records", len(again))
		}
	}
	moved := again[0].Partition
	for i, m := range again {
		if m.Partition != moved || m.Offset != int64(i) {
			t.Fatalf("b's record %d is %s, want %d/%d", i, m.ID, moved, i)
		}
	}
	if st := ksSourceStats(a); st.dropped != 5 || st.revoked != 1 {
		t.Fatalf("a stats %+v, want 1 revoked, 5 dropped", st)
	}
	// a's late acks of the moved partition must be ignored: the commit
	// stays where b puts it (b acks 0..1 only).
	if err := bs.Ack(ctx, again[0], again[1]); err != nil {
		t.Fatal(err)
	}
	ksWaitCommitted(t, b, "g", "rt", moved, 2)
	if err := a.Ack(ctx, held...); err != nil {
		t.Fatal(err)
	}
	ksWaitCommitted(t, b, "g", "rt", 1-moved, 5) // a's own partition
	time.Sleep(200 * time.Millisecond)
	if off := ksCommittedOffset(t, b, "g", "rt", moved); off != 2 {
		t.Fatalf("moved partition committed at %d after a's late acks, want b's 2", off)
	}
}

// Lost partitions (the member was fenced) are forgotten without a commit:
// later acks of their records are ignored and nothing is dead-lettered.
func TestKafkaSourceLostPartitionNotCommitted(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("lost", 1)
	b.CreateTopic("lost-dlq", 1)
	ksProduceValues(t, b, "lost", 4, 0)
	s := ksNewTestKafkaSource(t, b, KafkaSourceConfig{Topics: []string{"lost"}, Group: "g", DeadLetterTopic: "lost-dlq"})
	ctx := context.Background()
	ms := ksFetchN(t, s, 4, 10*time.Second)
	s.Ack(ctx, ms[0])
	ksWaitCommitted(t, b, "g", "lost", 0, 1)
	// What franz-go calls when the group fences the member.
	s.onLost(ctx, s.cl, map[string][]int32{"lost": {0}})
	if err := s.Ack(ctx, ms[1], ms[2]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, ms[3], Diagnostics{LastError: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := ksCommittedOffset(t, b, "g", "lost", 0); got != 1 {
		t.Fatalf("committed %d after losing the partition, want 1", got)
	}
	end := b.KafkaClient()
	defer end.Close()
	offs, err := kadm.NewClient(end).ListEndOffsets(ctx, "lost-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("lost-dlq", 0); o.Offset != 0 {
		t.Fatalf("dlq has %d records; a lost partition's record must not be dead-lettered here", o.Offset)
	}
	if st := ksSourceStats(s); st.lost != 1 || st.dropped != 3 {
		t.Fatalf("stats %+v, want 1 lost, 3 dropped", st)
	}
}

// A static member (InstanceID) does not leave the group on Close, and a
// restart with the same InstanceID resumes after the last commit.
func TestKafkaSourceStaticMembership(t *testing.T) {
	t.Parallel()
	b := ksNewKafkaTestBroker(t)
	b.CreateTopic("st", 2)
	ksProduceSpread(t, b, "st", 2, 3)
	cfg := KafkaSourceConfig{Topics: []string{"st"}, Group: "g", InstanceID: "node-1", SessionTimeout: 10 * time.Second}
	ctx := context.Background()
	s1 := ksNewTestKafkaSource(t, b, cfg)
	s1.Ack(ctx, ksFetchN(t, s1, 6, 10*time.Second)...)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s1.Close(cctx); err != nil {
		t.Fatal(err)
	}
	cl := b.KafkaClient()
	defer cl.Close()
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	g := described["g"]
	if len(g.Members) != 1 || g.Members[0].InstanceID == nil || *g.Members[0].InstanceID != "node-1" {
		t.Fatalf("group after a static member's Close: state %s members %+v; want node-1 still a member", g.State, g.Members)
	}
	ksProduceSpread(t, b, "st", 2, 1)
	s2 := ksNewTestKafkaSource(t, b, cfg)
	ms := ksFetchN(t, s2, 2, 10*time.Second)
	for _, m := range ms {
		if m.Offset != 3 {
			t.Fatalf("restarted static member got %s, want only the new records (offset 3)", m.ID)
		}
	}
}
