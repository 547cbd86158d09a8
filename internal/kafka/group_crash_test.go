package kafka

// Committed offsets survive a SIGKILL of the broker: a child process
// serves a data directory with a durable coordinator; the parent commits
// offsets from several goroutines, records every acknowledged commit,
// kills the child mid-stream and reopens the directory.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/internal/group"
)

func TestGroupCommitsSurviveBrokerKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a child broker")
	}
	dir := t.TempDir()
	child := startChild(t, "broker", "SLUICE_GROUP_TEST_DIR="+dir)
	addr := child.expectLine(t, "ADDR ")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(2*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "commits"); err != nil {
		t.Fatal(err)
	}

	// Each writer commits ever-growing offsets for its own group; acked
	// holds the last acknowledged offset per group and partition.
	const writers = 4
	var (
		mu    sync.Mutex
		acked = map[string]map[int32]int64{}
		n     int
		wg    sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		g := fmt.Sprintf("crash-%d", w)
		acked[g] = map[int32]int64{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); ctx.Err() == nil; i++ {
				offs := kadm.Offsets{}
				for p := int32(0); p < 4; p++ {
					offs.AddOffset("commits", p, i*10+int64(p), -1)
				}
				r, err := adm.CommitOffsets(ctx, g, offs)
				if err != nil || r.Error() != nil {
					continue // the broker is gone, or going
				}
				mu.Lock()
				for p := int32(0); p < 4; p++ {
					acked[g][p] = i*10 + int64(p)
				}
				n++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for {
		mu.Lock()
		done := n
		mu.Unlock()
		if done >= 200 && time.Since(start) > 300*time.Millisecond || time.Since(start) > 10*time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.Kill()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n < 50 {
		t.Fatalf("only %d commits acknowledged before the kill; the test proves nothing", n)
	}

	coord, err := group.Open(testGroupConfig(dir + "/groups"))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer coord.Close()
	for g, parts := range acked {
		offs, err := coord.FetchOffsets(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int32]int64{}
		for _, o := range offs {
			got[o.Partition] = o.Offset
		}
		for p, want := range parts {
			// A commit written but not yet acknowledged may be there too:
			// never less than the acknowledged one, and the same request
			// for every partition (a request is one batch).
			if got[p] < want || (got[p]-int64(p))%10 != 0 || got[p]-int64(p) != got[0] {
				t.Fatalf("group %s partition %d: committed %d after SIGKILL, acknowledged %d (all: %v)", g, p, got[p], want, got)
			}
		}
	}
	t.Logf("%d acknowledged commits (4 partitions each) from %d writers; all survived SIGKILL", n, writers)
}
