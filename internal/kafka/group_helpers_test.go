package kafka

// Helpers of the consumer-group tests (group_*_test.go):
//
//	b, coord := newGroupBroker(t)   // newTestBroker with a durable group coordinator
//	                                // on <dir>/groups with short timeouts
//	cl := groupConsumer(t, b, "grp", "topic", opts...) // a kgo group member, fast settings
//
// and the child processes the crash tests run: the test binary re-executes
// itself with groupChildEnv set, and init() below runs the child before
// any test (or TestMain) starts.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

const (
	// groupChildEnv selects a child role: "broker" (serve a data directory
	// with a durable coordinator) or "member" (one group consumer).
	groupChildEnv = "SLUICE_GROUP_TEST_CHILD"
	// Group timings of the tests: short, so that failover is quick, and
	// well above scheduling noise on a loaded machine.
	testSessionTimeout   = 1500 * time.Millisecond
	testHeartbeat        = 100 * time.Millisecond
	testRebalanceTimeout = 5 * time.Second
)

func init() {
	switch os.Getenv(groupChildEnv) {
	case "broker":
		runGroupBrokerChild()
	case "member":
		runGroupMemberChild()
	}
}

// testGroupConfig is the coordinator configuration of the tests.
func testGroupConfig(dir string) group.Config {
	return group.Config{
		Dir:                   dir,
		MinSessionTimeout:     100 * time.Millisecond,
		InitialRebalanceDelay: 200 * time.Millisecond,
		Logger:                quietLogger(),
	}
}

// newGroupBroker is newTestBroker with a durable group coordinator in
// <dir>/groups, closed after the server.
func newGroupBroker(t testing.TB, opts ...func(*Config)) (*testBroker, *group.Coordinator) {
	t.Helper()
	dir := t.TempDir()
	coord, err := group.Open(testGroupConfig(dir + "/groups"))
	if err != nil {
		t.Fatalf("group.Open: %v", err)
	}
	t.Cleanup(func() { coord.Close() }) // registered first: runs after the broker stops
	opts = append([]func(*Config){func(c *Config) { c.Groups = coord }}, opts...)
	return newTestBroker(t, opts...), coord
}

// groupOpts are the kgo options of a test group member.
func groupOpts(addr, groupID, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(groupID),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(testSessionTimeout),
		kgo.HeartbeatInterval(testHeartbeat),
		kgo.RebalanceTimeout(testRebalanceTimeout),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	}
}

// groupConsumer returns a kgo group member, closed on cleanup.
func groupConsumer(t testing.TB, b *testBroker, groupID, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(groupOpts(b.Addr, groupID, topic), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// assignmentsOf decodes the members' consumer assignments of a stable
// group: member id -> partitions of topic.
func assignmentsOf(t testing.TB, coord *group.Coordinator, groupID, topic string) (group.Description, map[string][]int32) {
	t.Helper()
	d, err := coord.Describe(groupID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int32{}
	for _, m := range d.Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.Assignment); err != nil {
			continue
		}
		for _, tp := range a.Topics {
			if tp.Topic == topic {
				out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
			}
		}
	}
	return d, out
}

// waitBalanced waits until the group is stable with n members holding
// per partitions of topic each.
func waitBalanced(t testing.TB, coord *group.Coordinator, groupID, topic string, n, per int) map[string][]int32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, as := assignmentsOf(t, coord, groupID, topic)
		ok := d.State == group.StateStable && len(d.Members) == n && len(as) == n
		for _, ps := range as {
			ok = ok && len(ps) == per
		}
		if ok {
			return as
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not balanced (%d members x %d partitions): state %v, assignments %v", groupID, n, per, d.State, as)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- child processes ----

// childProc is a running child: its stdout lines arrive on Lines.
type childProc struct {
	cmd    *exec.Cmd
	Lines  chan string
	killed bool
}

// startChild runs the test binary as a child of the given role.
func startChild(t testing.TB, role string, env ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), groupChildEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &childProc{cmd: cmd, Lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.Lines <- sc.Text()
		}
		close(p.Lines)
	}()
	t.Cleanup(func() { p.Kill() })
	return p
}

// Kill SIGKILLs the child and reaps it. Idempotent.
func (p *childProc) Kill() {
	if p.killed {
		return
	}
	p.killed = true
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// expectLine waits for a line with the given prefix and returns the rest.
func (p *childProc) expectLine(t testing.TB, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.Lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		case <-timeout:
			t.Fatalf("child did not print %q within 20s", prefix)
		}
	}
}

func childFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "group child: "+format+"\n", args...)
	os.Exit(2)
}

// runGroupBrokerChild serves $SLUICE_GROUP_TEST_DIR with a durable
// coordinator until killed; it prints "ADDR host:port".
func runGroupBrokerChild() {
	dir := os.Getenv("SLUICE_GROUP_TEST_DIR")
	logger := quietLogger()
	meta, reg, err := openStorage(dir, logger)
	if err != nil {
		childFail("open storage: %v", err)
	}
	coord, err := group.Open(testGroupConfig(dir + "/groups"))
	if err != nil {
		childFail("open coordinator: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		childFail("listen: %v", err)
	}
	srv := NewServer(Config{Topics: reg, Meta: meta, Groups: coord, AutoCreateTopics: true, Logger: logger})
	fmt.Printf("ADDR %s\n", ln.Addr())
	os.Stdout.Sync()
	err = srv.Serve(ln)
	childFail("serve: %v", err)
}

// runGroupMemberChild is one group member: it consumes
// $SLUICE_GROUP_TEST_TOPIC in $SLUICE_GROUP_TEST_GROUP from
// $SLUICE_GROUP_TEST_ADDR and prints, in this order, "R partition offset"
// for every record it processes and "C partition offset" for every offset
// it committed (the next offset to consume), committing every 300ms, as an
// auto-committing consumer would. "A p,p,…" reports its assignment.
func runGroupMemberChild() {
	addr, groupID, topic := os.Getenv("SLUICE_GROUP_TEST_ADDR"), os.Getenv("SLUICE_GROUP_TEST_GROUP"), os.Getenv("SLUICE_GROUP_TEST_TOPIC")
	w := bufio.NewWriter(os.Stdout)
	assigned := make(chan string, 16)
	opts := append(groupOpts(addr, groupID, topic),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			var ps []string
			for _, p := range m[topic] {
				ps = append(ps, strconv.Itoa(int(p)))
			}
			assigned <- strings.Join(ps, ",")
		}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		childFail("client: %v", err)
	}
	ctx := context.Background()
	last := map[int32]*kgo.Record{}
	lastCommit := time.Now()
	for {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		for len(assigned) > 0 {
			fmt.Fprintf(w, "A %s\n", <-assigned)
		}
		fs.EachRecord(func(r *kgo.Record) {
			fmt.Fprintf(w, "R %d %d\n", r.Partition, r.Offset)
			last[r.Partition] = r
		})
		w.Flush()
		if time.Since(lastCommit) >= 300*time.Millisecond && len(last) > 0 {
			var recs []*kgo.Record
			for _, r := range last {
				recs = append(recs, r)
			}
			if err := cl.CommitRecords(ctx, recs...); err == nil {
				for _, r := range recs {
					fmt.Fprintf(w, "C %d %d\n", r.Partition, r.Offset+1)
				}
				w.Flush()
			}
			clear(last)
			lastCommit = time.Now()
		}
	}
}
