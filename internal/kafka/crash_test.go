package kafka

// Crash test: a broker SIGKILLed under acks=all load loses no acknowledged
// record. The test binary re-executes itself as a child (TestMain sees
// crashChildEnv) that serves a fixed data directory on a port it prints;
// the parent produces to it, records every acknowledged offset, kills it,
// reopens the directory in-process and checks every acknowledged record.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const crashChildEnv = "SLUICE_KAFKA_CRASH_CHILD_DIR"

// runCrashChild serves the directory named by crashChildEnv until killed.
func runCrashChild() {
	dir := os.Getenv(crashChildEnv)
	logger := quietLogger()
	meta, reg, err := openStorage(dir, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open storage:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: listen:", err)
		os.Exit(2)
	}
	srv := NewServer(Config{Topics: reg, Meta: meta, AutoCreateTopics: true, DefaultPartitions: 3, Logger: logger})
	fmt.Printf("ADDR %s\n", ln.Addr())
	os.Stdout.Sync()
	err = srv.Serve(ln)
	fmt.Fprintln(os.Stderr, "child: serve:", err)
	os.Exit(3)
}

func TestCrashAcksAllLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns a child broker")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child did not report its address: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("crash"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
		kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(3*time.Second),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	type acked struct {
		partition int32
		offset    int64
		value     string
	}
	var (
		mu   sync.Mutex
		acks []acked
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				v := fmt.Sprintf("w%d-%d", w, i)
				cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acks = append(acks, acked{r.Partition, r.Offset, string(r.Value)})
						mu.Unlock()
					}
				})
				if i%64 == 63 {
					time.Sleep(time.Millisecond) // keep the buffer from filling
				}
			}
		}()
	}
	// Let load build up, then kill the broker mid-flight.
	start := time.Now()
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 3000 && time.Since(start) > time.Second || time.Since(start) > 5*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	cancel()
	wg.Wait()
	cl.Close() // fails whatever is still buffered; those were never acked
	mu.Lock()
	got := append([]acked(nil), acks...)
	mu.Unlock()
	if len(got) < 100 {
		t.Fatalf("only %d records acknowledged before the kill; the test proves nothing", len(got))
	}
	t.Logf("%d records acknowledged before SIGKILL", len(got))

	// Reopen the same directory in-process and read everything back.
	b := &testBroker{Dir: dir}
	b.start(t, "127.0.0.1:0")
	t.Cleanup(func() { b.stop(t) })
	stored := readAll(t, b, "crash", 3)
	for _, a := range got {
		v, ok := stored[a.partition][a.offset]
		if !ok {
			t.Fatalf("acknowledged record %q at %d/%d lost after SIGKILL", a.value, a.partition, a.offset)
		}
		if v != a.value {
			t.Fatalf("record at %d/%d is %q, acknowledged %q", a.partition, a.offset, v, a.value)
		}
	}
}

// readAll consumes every partition of a topic from the start to its end
// offset and returns value by partition and offset.
func readAll(t testing.TB, b *testBroker, topicName string, partitions int32) map[int32]map[int64]string {
	t.Helper()
	tp := b.Topics.Get(topicName)
	if tp == nil {
		t.Fatalf("topic %q missing", topicName)
	}
	ends := map[int32]int64{}
	want := 0
	offs := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		ends[p] = tp.Partition(p).HighWatermark()
		want += int(ends[p] - tp.Partition(p).StartOffset())
		offs[p] = kgo.NewOffset().AtStart()
	}
	out := map[int32]map[int64]string{}
	for p := int32(0); p < partitions; p++ {
		out[p] = map[int64]string{}
	}
	if want == 0 {
		return out
	}
	cl := b.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topicName: offs}), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", n, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := out[r.Partition][r.Offset]; !dup && r.Offset < ends[r.Partition] {
				out[r.Partition][r.Offset] = string(r.Value)
				n++
			}
		})
	}
	return out
}
