package kafka

// Consumer groups through franz-go: balanced membership, failover of a
// member killed without leaving, cooperative incremental rebalances and
// static membership.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/internal/group"
)

// produceEach writes n records to every partition of topic and returns
// the end offset of each.
func produceEach(t testing.TB, b *testBroker, topic string, partitions int32, n int) map[int32]int64 {
	t.Helper()
	cl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ends := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		ends[p] = int64(n)
	}
	return ends
}

// tally counts records processed by each consumer.
type tally struct {
	mu     sync.Mutex
	count  map[[2]int64]int          // (partition, offset) -> times processed
	by     map[string]map[int32]bool // consumer -> partitions it processed
	total  int
	firsts map[int32]time.Time // first processing of a partition by a survivor after a mark
	mark   time.Time
	watch  map[int32]bool
}

func newTally() *tally {
	return &tally{count: map[[2]int64]int{}, by: map[string]map[int32]bool{}, firsts: map[int32]time.Time{}}
}

func (t *tally) add(who string, p int32, o int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.count[[2]int64{int64(p), o}]++
	t.total++
	if t.by[who] == nil {
		t.by[who] = map[int32]bool{}
	}
	t.by[who][p] = true
	if t.watch[p] && !t.mark.IsZero() && who != "child" {
		if _, ok := t.firsts[p]; !ok {
			t.firsts[p] = time.Now()
		}
	}
}

// missing returns how many of the produced records were never processed.
func (t *tally) missing(ends map[int32]int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if t.count[[2]int64{int64(p), o}] == 0 {
				n++
			}
		}
	}
	return n
}

// consume runs a poll loop for cl until ctx ends: every record is tallied
// as processed by who, then committed (CommitRecords after each poll).
func consume(ctx context.Context, wg *sync.WaitGroup, cl *kgo.Client, who string, tl *tally) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				tl.add(who, r.Partition, r.Offset)
				recs = append(recs, r)
			})
			if len(recs) > 0 {
				cl.CommitRecords(ctx, recs...)
			}
		}
	}()
}

func waitAllConsumed(t testing.TB, tl *tally, ends map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for tl.missing(ends) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records never consumed", tl.missing(ends))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three members of one group on a six-partition topic get two partitions
// each, with every client-side assignor kgo has, and consume every record
// exactly once when nothing fails.
func TestGroupThreeMembersSixPartitions(t *testing.T) {
	t.Parallel()
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"sticky", kgo.StickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			b, coord := newGroupBroker(t)
			createTopic(t, b, "six", 6, nil)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			tl := newTally()
			for i := 0; i < 3; i++ {
				cl := groupConsumer(t, b, "g3", "six", kgo.Balancers(bal.b), kgo.ClientID(fmt.Sprintf("m%d", i)))
				consume(ctx, &wg, cl, fmt.Sprintf("m%d", i), tl)
			}
			as := waitBalanced(t, coord, "g3", "six", 3, 2)
			if d, _ := coord.Describe("g3"); d.Protocol != bal.name {
				t.Fatalf("selected protocol %q", d.Protocol)
			}
			var all []int32
			for _, ps := range as {
				all = append(all, ps...)
			}
			slices.Sort(all)
			if fmt.Sprint(all) != "[0 1 2 3 4 5]" {
				t.Fatalf("assignment %v does not cover the partitions once", as)
			}
			ends := produceEach(t, b, "six", 6, 100)
			waitAllConsumed(t, tl, ends)
			tl.mu.Lock()
			for k, n := range tl.count {
				if n != 1 {
					t.Errorf("record %v processed %d times", k, n)
				}
			}
			for who, ps := range tl.by {
				if len(ps) != 2 {
					t.Errorf("%s processed partitions %v, want 2", who, ps)
				}
			}
			tl.mu.Unlock()
			// Every partition's commit reaches its end.
			deadline := time.Now().Add(10 * time.Second)
			for {
				offs, _ := coord.FetchOffsets("g3", nil)
				done := len(offs) == 6
				for _, o := range offs {
					done = done && o.Offset == 100
				}
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("committed offsets %+v", offs)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// A member killed without leaving (SIGKILL of a child process) loses its
// partitions to the survivors once its session times out; every record
// is processed at least once and duplicates come only from the killed
// member's uncommitted range.
func TestGroupMemberKilledFailover(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a child consumer")
	}
	b, coord := newGroupBroker(t)
	const topic, groupID = "failover", "fo"
	createTopic(t, b, topic, 6, nil)
	tl := newTally()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	child := startChild(t, "member", "SLUICE_GROUP_TEST_ADDR="+b.Addr, "SLUICE_GROUP_TEST_GROUP="+groupID, "SLUICE_GROUP_TEST_TOPIC="+topic)
	var (
		cmu           sync.Mutex
		childCommit   = map[int32]int64{}
		childLast     = map[int32]int64{}
		childRecs     int
		childLinesEnd = make(chan struct{})
	)
	go func() {
		defer close(childLinesEnd)
		for l := range child.Lines {
			f := strings.Fields(l)
			if len(f) != 3 {
				continue
			}
			p, _ := strconv.Atoi(f[1])
			o, _ := strconv.ParseInt(f[2], 10, 64)
			cmu.Lock()
			switch f[0] {
			case "R":
				tl.add("child", int32(p), o)
				childLast[int32(p)] = o
				childRecs++
			case "C":
				childCommit[int32(p)] = o
			}
			cmu.Unlock()
		}
	}()
	for i := 0; i < 2; i++ {
		consume(ctx, &wg, groupConsumer(t, b, groupID, topic, kgo.ClientID(fmt.Sprintf("survivor-%d", i))), fmt.Sprintf("survivor-%d", i), tl)
	}
	as := waitBalanced(t, coord, groupID, topic, 3, 2)
	d, _ := coord.Describe(groupID)
	var childParts []int32
	for _, m := range d.Members {
		if m.ClientID == "kgo" { // the child keeps kgo's default client id
			childParts = as[m.MemberID]
		}
	}
	if len(childParts) != 2 {
		t.Fatalf("child's partitions not found: %+v %v", d.Members, as)
	}

	// Produce steadily, kill the child mid-stream, keep producing.
	pcl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var pmu sync.Mutex
	ends := map[int32]int64{}
	stopProduce := make(chan struct{})
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; ; i++ {
			select {
			case <-stopProduce:
				return
			case <-time.After(time.Millisecond):
			}
			var recs []*kgo.Record
			for p := int32(0); p < 6; p++ {
				recs = append(recs, &kgo.Record{Partition: p, Value: []byte(strconv.Itoa(i))})
			}
			res := pcl.ProduceSync(ctx, recs...)
			pmu.Lock()
			for _, r := range res {
				if r.Err == nil && r.Record.Offset+1 > ends[r.Record.Partition] {
					ends[r.Record.Partition] = r.Record.Offset + 1
				}
			}
			pmu.Unlock()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cmu.Lock()
		n, commits := childRecs, len(childCommit)
		cmu.Unlock()
		if n >= 300 && commits == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child processed %d records, committed %d partitions", n, commits)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tl.mu.Lock()
	tl.watch = map[int32]bool{childParts[0]: true, childParts[1]: true}
	tl.mark = time.Now()
	killedAt := tl.mark
	tl.mu.Unlock()
	child.Kill()
	<-childLinesEnd // what the child wrote before it died
	time.Sleep(testSessionTimeout + 2*time.Second)
	close(stopProduce)
	<-prodDone
	pmu.Lock()
	finalEnds := maps2(ends)
	pmu.Unlock()
	waitAllConsumed(t, tl, finalEnds)

	tl.mu.Lock()
	defer tl.mu.Unlock()
	cmu.Lock()
	defer cmu.Unlock()
	var resumed time.Duration
	for _, p := range childParts {
		first, ok := tl.firsts[p]
		if !ok {
			t.Fatalf("partition %d of the killed member was never consumed again", p)
		}
		resumed = max(resumed, first.Sub(killedAt))
	}
	dups, produced := 0, 0
	for _, e := range finalEnds {
		produced += int(e)
	}
	for k, n := range tl.count {
		if n < 2 {
			continue
		}
		dups += n - 1
		p, o := int32(k[0]), k[1]
		if !slices.Contains(childParts, p) || o < childCommit[p] || o > childLast[p] {
			t.Errorf("record %d/%d processed %d times: outside the killed member's uncommitted range [%d, %d]", p, o, n, childCommit[p], childLast[p])
		}
	}
	uncommitted := int64(0)
	for _, p := range childParts {
		uncommitted += childLast[p] + 1 - childCommit[p]
	}
	if int64(dups) != uncommitted {
		t.Errorf("%d duplicates, but the killed member had %d processed records uncommitted", dups, uncommitted)
	}
	if resumed > testSessionTimeout+3*time.Second {
		t.Errorf("the killed member's partitions were consumed again only after %v", resumed)
	}
	t.Logf("failover: %d records produced, the killed member processed %d; its partitions %v were consumed again %v after SIGKILL (session timeout %v, heartbeat %v); %d duplicates, all from its uncommitted range",
		produced, childRecs, childParts, resumed.Round(time.Millisecond), testSessionTimeout, testHeartbeat, dups)
}

func maps2(m map[int32]int64) map[int32]int64 {
	out := make(map[int32]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// callbacks records a member's rebalance callbacks.
type callbacks struct {
	mu                      sync.Mutex
	assigned, revoked, lost []int32
	owned                   map[int32]bool
}

func (c *callbacks) opts(topic string) []kgo.Opt {
	c.owned = map[int32]bool{}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.assigned = append(c.assigned, m[topic]...)
			for _, p := range m[topic] {
				c.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.revoked = append(c.revoked, m[topic]...)
			for _, p := range m[topic] {
				delete(c.owned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lost = append(c.lost, m[topic]...)
		}),
	}
}

func (c *callbacks) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.assigned, c.revoked, c.lost = nil, nil, nil
}

func (c *callbacks) snapshot() (assigned, revoked, lost, owned []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.owned {
		owned = append(owned, p)
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	return slices.Clone(c.assigned), slices.Clone(c.revoked), slices.Clone(c.lost), owned
}

// With cooperative-sticky, a joining member takes partitions from the
// others without stopping them: each revokes only what moves.
func TestGroupCooperativeJoin(t *testing.T) {
	t.Parallel()
	b, coord := newGroupBroker(t)
	createTopic(t, b, "coop", 6, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	tl := newTally()
	cbs := []*callbacks{{}, {}, {}}
	start := func(i int) {
		cl := groupConsumer(t, b, "cg", "coop", append(cbs[i].opts("coop"), kgo.ClientID(fmt.Sprintf("c%d", i)))...)
		consume(ctx, &wg, cl, fmt.Sprintf("c%d", i), tl)
	}
	start(0)
	start(1)
	waitBalanced(t, coord, "cg", "coop", 2, 3)
	before := [2][]int32{}
	for i := 0; i < 2; i++ {
		eventuallyOwned(t, cbs[i], 3)
		_, _, _, before[i] = cbs[i].snapshot()
		cbs[i].reset()
	}
	start(2)
	waitBalanced(t, coord, "cg", "coop", 3, 2)
	eventuallyOwned(t, cbs[2], 2)
	var moved []int32
	for i := 0; i < 2; i++ {
		assigned, revoked, lost, owned := cbs[i].snapshot()
		if len(revoked) != 1 || len(lost) != 0 || len(assigned) != 0 {
			t.Fatalf("member %d: assigned %v revoked %v lost %v; want exactly one revoked partition and nothing else", i, assigned, revoked, lost)
		}
		for _, p := range owned {
			if !slices.Contains(before[i], p) {
				t.Fatalf("member %d now owns %d, which it did not before", i, p)
			}
		}
		moved = append(moved, revoked...)
	}
	_, _, _, got := cbs[2].snapshot()
	slices.Sort(moved)
	if fmt.Sprint(moved) != fmt.Sprint(got) {
		t.Fatalf("the newcomer got %v, the others revoked %v", got, moved)
	}
}

func eventuallyOwned(t testing.TB, c *callbacks, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, _, owned := c.snapshot()
		if len(owned) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member owns %v, want %d partitions", owned, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A static member (group.instance.id) restarted within its session
// timeout gets its partitions back; the others see no rebalance.
func TestGroupStaticMemberRestart(t *testing.T) {
	t.Parallel()
	b, coord := newGroupBroker(t)
	createTopic(t, b, "static", 6, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	tl := newTally()
	cbs := []*callbacks{{}, {}, {}}
	clients := make([]*kgo.Client, 3)
	for i := range clients {
		opts := append(cbs[i].opts("static"), kgo.ClientID(fmt.Sprintf("s%d", i)), kgo.InstanceID(fmt.Sprintf("instance-%d", i)))
		cl, err := kgo.NewClient(append(groupOpts(b.Addr, "sg", "static"), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = cl
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		consume(pctx, &wg, cl, fmt.Sprintf("s%d", i), tl)
		if i == 0 {
			defer func() { pcancel() }()
		}
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	as := waitBalanced(t, coord, "sg", "static", 3, 2)
	d, _ := coord.Describe("sg")
	gen := d.Generation
	var partsBefore []int32
	for _, m := range d.Members {
		if m.InstanceID == "instance-0" {
			partsBefore = slices.Sorted(slices.Values(as[m.MemberID]))
		}
	}
	for _, c := range cbs {
		eventuallyOwned(t, c, 2)
		c.reset()
	}

	// Restart instance-0: close (a static member does not leave) and come
	// back at once.
	clients[0].Close()
	restarted := &callbacks{}
	cl, err := kgo.NewClient(append(groupOpts(b.Addr, "sg", "static"), append(restarted.opts("static"), kgo.ClientID("s0-restarted"), kgo.InstanceID("instance-0"))...)...)
	if err != nil {
		t.Fatal(err)
	}
	clients[0] = cl
	consume(ctx, &wg, cl, "s0-restarted", tl)
	eventuallyOwned(t, restarted, 2)
	_, _, _, got := restarted.snapshot()
	if fmt.Sprint(got) != fmt.Sprint(partsBefore) {
		t.Fatalf("restarted static member got %v, had %v", got, partsBefore)
	}
	time.Sleep(500 * time.Millisecond) // let any rebalance show itself
	d, _ = coord.Describe("sg")
	if d.Generation != gen || d.State != group.StateStable || len(d.Members) != 3 {
		t.Fatalf("after the static restart: generation %d (was %d), state %v, %d members", d.Generation, gen, d.State, len(d.Members))
	}
	for i := 1; i < 3; i++ {
		if a, r, l, _ := cbs[i].snapshot(); len(a)+len(r)+len(l) != 0 {
			t.Fatalf("member %d saw a rebalance: assigned %v revoked %v lost %v", i, a, r, l)
		}
	}
}
