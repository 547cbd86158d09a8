package kafka

// Consumer groups through clients this project did not write, when they
// are installed (skipped otherwise): librdkafka's balanced consumer (kcat
// -G, Debian's kcat links librdkafka 2.0, which disables groups unless
// JoinGroup, SyncGroup, Heartbeat and LeaveGroup are served from v0) and
// kafka-python 2.0.2's KafkaConsumer with a group id.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two kcat -G consumers share a topic: every record is consumed and the
// group's committed offsets reach the end of every partition.
func TestGroupKcatBalanced(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed")
	}
	b, coord := newGroupBroker(t)
	createTopic(t, b, "kcatg", 4, nil)
	ends := produceEach(t, b, "kcatg", 4, 50)
	var (
		wg   sync.WaitGroup
		outs [2]bytes.Buffer
		errs [2]error
	)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "kcat", "-b", b.Addr, "-G", "kcat-group", "-X", "auto.offset.reset=earliest",
				"-X", "session.timeout.ms=6000", "-e", "-q", "-f", "%p %o\n", "kcatg")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &outs[i], &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, stderr.String())
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	var per [2]map[string]bool
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("kcat -G #%d: %v", i, errs[i])
		}
		per[i] = map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(outs[i].String()), "\n") {
			if l == "" {
				continue
			}
			seen[l]++
			per[i][strings.Fields(l)[0]] = true
		}
	}
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if seen[fmt.Sprintf("%d %d", p, o)] == 0 {
				t.Fatalf("record %d/%d not consumed by either kcat", p, o)
			}
		}
	}
	offs, _ := coord.FetchOffsets("kcat-group", nil)
	if len(offs) != 4 {
		t.Fatalf("committed offsets: %+v", offs)
	}
	for _, o := range offs {
		if o.Offset != ends[o.Partition] {
			t.Fatalf("committed %d for partition %d, want %d", o.Offset, o.Partition, ends[o.Partition])
		}
	}
	keys := func(m map[string]bool) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	t.Logf("kcat -G: consumer 0 read partitions %v, consumer 1 %v; %d records", keys(per[0]), keys(per[1]), len(seen))
}

const kafkaPythonGroupScript = `
import sys
from kafka import KafkaConsumer, TopicPartition
addr, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = KafkaConsumer(topic, bootstrap_servers=addr, group_id=group, enable_auto_commit=False,
                  auto_offset_reset='earliest', consumer_timeout_ms=20000,
                  session_timeout_ms=6000, heartbeat_interval_ms=500)
seen = set()
for r in c:
    seen.add((r.partition, r.offset))
    if len(seen) == count:
        break
assert len(seen) == count, len(seen)
c.commit()
parts = sorted(c.assignment(), key=lambda tp: tp.partition)
committed = [c.committed(tp) for tp in parts]
c.close()
print("ok", len(seen), committed)
`

// kafka-python's group consumer (JoinGroup v2, SyncGroup v1, OffsetCommit
// v2, OffsetFetch v1/v3 as it infers the broker's version) consumes and
// commits every record.
func TestGroupKafkaPython(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Skip("kafka-python not installed")
	}
	b, coord := newGroupBroker(t)
	createTopic(t, b, "pyg", 3, nil)
	produceEach(t, b, "pyg", 3, 40)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", kafkaPythonGroupScript, b.Addr, "pyg", "py-group", "120").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok 120 [40, 40, 40]") {
		t.Fatalf("kafka-python group consumer: %v\n%s", err, out)
	}
	offs, _ := coord.FetchOffsets("py-group", nil)
	if len(offs) != 3 || offs[0].Offset != 40 || offs[2].Offset != 40 {
		t.Fatalf("committed offsets: %+v", offs)
	}
}
