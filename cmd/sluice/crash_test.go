package main

// TestCrashRecovery is the end-to-end check of design principle 1 ("nothing
// acknowledged is lost") on the real binary: it builds `sluice`, runs Kafka
// produce, SQS send/receive/delete and Kafka group commits against it at
// the same time, SIGKILLs the process at a random moment, restarts it on the
// same data directory and checks that everything the broker acknowledged
// before dying is still there. The package-level SIGKILL tests cover each
// store alone; this one covers the wiring between them (listener → handler →
// store → fsync → reply) as a user runs it.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	crashTopic      = "crash-topic"
	crashPartitions = 3
	crashGroup      = "crash-group"
	crashQueue      = "crash-queue"
	crashCycles     = 3
	// The queue's VisibilityTimeout: short, so that messages leased when
	// the broker died become receivable again quickly during the drain.
	crashVisibility = 1 * time.Second
)

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped under -short")
	}
	start := time.Now()
	bin := buildSluice(t)
	dir := filepath.Join(t.TempDir(), "data")
	led := newLedger()

	b := startBroker(t, bin, dir)
	setupCrashResources(t, b)

	for cycle := 1; cycle <= crashCycles; cycle++ {
		killAfter := 500*time.Millisecond + rand.N(1200*time.Millisecond)
		before := led.counts()
		runWorkload(t, b, led, cycle, killAfter)
		acked := led.counts().minus(before)

		started := time.Now()
		b = startBroker(t, bin, dir)
		restart := time.Since(started)

		verifyKafka(t, b, led)
		verifyGroup(t, b, led)
		drained := verifySQS(t, b, led)
		t.Logf("cycle %d: killed after %v; acknowledged records=%d sends=%d deletes=%d (unacknowledged %d) commits=%d; start to healthy %v; drain received %d",
			cycle, killAfter.Round(time.Millisecond), acked.records, acked.sends, acked.deletes, acked.unackedDeletes, acked.commits,
			restart.Round(time.Millisecond), drained)
		if t.Failed() {
			t.Logf("broker log tail:\n%s", b.logTail())
			return
		}
	}
	b.stop(t)
	t.Logf("total: %d records, %d sends, %d deletes, %d commits acknowledged over %d kills; %v",
		len(led.records), len(led.sent), len(led.deleted), led.commitCount, crashCycles, time.Since(start).Round(time.Millisecond))
}

// buildSluice builds this command into a temporary directory. Building (and
// not re-executing the test binary) runs exactly what users run.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ---- the broker process ----

type brokerProc struct {
	cmd  *exec.Cmd
	log  *logSink
	addr map[string]string // "Kafka", "SQS", "HTTP" → host:port
}

var serveRe = regexp.MustCompile(`msg="broker: serving (Kafka|SQS|HTTP)" addr=(\S+)`)

// logSink keeps the broker's stderr, for the failure report and for the
// listener addresses it logs.
type logSink struct {
	mu  sync.Mutex
	buf []byte
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *logSink) find() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, m := range serveRe.FindAllStringSubmatch(string(s.buf), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (b *brokerProc) logTail() string {
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	s := string(b.log.buf)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// startBroker runs `sluice serve` on dir with system-chosen ports, reads the
// ports from its log and waits for /healthz. New ports on every start mean
// no client from before a kill can reach the new process by accident.
func startBroker(t *testing.T, bin, dir string) *brokerProc {
	t.Helper()
	b := &brokerProc{log: &logSink{}}
	b.cmd = exec.Command(bin, "serve", "--data-dir", dir,
		"--kafka-addr", "127.0.0.1:0", "--sqs-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		// A test group should not wait Kafka's 3 s for more members, and
		// (below) the member a kill left behind should expire quickly: the
		// broker keeps group members across a restart, as Kafka does, so
		// the next cycle's consumer joins once that member's session ends.
		"--set", "group.initial.rebalance.delay.ms=0",
		"--set", "group.min.session.timeout.ms=500")
	b.cmd.Stderr = b.log
	b.cmd.Stdout = b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			b.cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if time.Now().After(deadline) {
			t.Fatalf("broker not healthy within 20s; log:\n%s", b.logTail())
		}
		a := b.log.find()
		if len(a) == 3 {
			resp, err := hc.Get("http://" + a["HTTP"] + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					b.addr = a
					return b
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs the broker and reaps it.
func (b *brokerProc) kill(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.cmd.Wait()
}

// stop ends the last broker cleanly and checks that a clean stop exits 0.
func (b *brokerProc) stop(t *testing.T) {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("clean stop after the crashes: %v; log:\n%s", err, b.logTail())
		}
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		<-done
		t.Errorf("clean stop did not finish in 15s")
	}
}

func (b *brokerProc) kafkaClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(b.addr["Kafka"]),
		kgo.RetryTimeout(5 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func (b *brokerProc) sqsClient() (*sqs.Client, *http.Transport) {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       &http.Client{Transport: tr, Timeout: 10 * time.Second},
		BaseEndpoint:     aws.String("http://" + b.addr["SQS"]),
		RetryMaxAttempts: 1, // a retry would blur which attempt was acknowledged
	}), tr
}

func setupCrashResources(t *testing.T, b *brokerProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := b.kafkaClient(t)
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, crashPartitions, 1, nil, crashTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	sc, tr := b.sqsClient()
	defer tr.CloseIdleConnections()
	if _, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(crashQueue),
		Attributes: map[string]string{"VisibilityTimeout": fmt.Sprint(int(crashVisibility / time.Second))},
	}); err != nil {
		t.Fatalf("create queue: %v", err)
	}
}

// ---- what the broker acknowledged ----

type ledger struct {
	mu      sync.Mutex
	records map[recordKey]string // acknowledged produce: where → value
	sent    map[string]bool      // acknowledged SendMessageBatch entries, by body
	deleted map[string]bool      // acknowledged deletes, by body
	// Deletes sent but not acknowledged (the broker may have applied one
	// and died before replying): such a message may or may not come back.
	tried       map[string]bool
	commits     map[int32]int64 // highest acknowledged committed offset per partition
	commitCount int
}

type recordKey struct {
	partition int32
	offset    int64
}

type tally struct{ records, sends, deletes, unackedDeletes, commits int }

func (a tally) minus(b tally) tally {
	return tally{a.records - b.records, a.sends - b.sends, a.deletes - b.deletes,
		a.unackedDeletes - b.unackedDeletes, a.commits - b.commits}
}

func newLedger() *ledger {
	return &ledger{
		records: map[recordKey]string{},
		sent:    map[string]bool{},
		deleted: map[string]bool{},
		tried:   map[string]bool{},
		commits: map[int32]int64{},
	}
}

func (l *ledger) counts() tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	return tally{len(l.records), len(l.sent), len(l.deleted), len(l.tried) - len(l.deleted), l.commitCount}
}

// ---- the workload ----

// runWorkload runs the three clients against b, SIGKILLs b after killAfter,
// then stops the clients. Every acknowledgement lands in led.
func runWorkload(t *testing.T, b *brokerProc, led *ledger, cycle int, killAfter time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup

	prod := b.kafkaClient(t,
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent by default
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(2000),
		kgo.RecordDeliveryTimeout(20*time.Second),
	)
	cons := b.kafkaClient(t,
		kgo.ConsumerGroup(crashGroup),
		kgo.ConsumeTopics(crashTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(1500*time.Millisecond),
		kgo.HeartbeatInterval(300*time.Millisecond),
	)
	sc, tr := b.sqsClient()
	qurl := getQueueURL(t, sc)

	wg.Go(func() { produceLoop(ctx, prod, led, cycle) })
	wg.Go(func() { commitLoop(ctx, cons, led) })
	wg.Go(func() { sendLoop(ctx, sc, qurl, led, cycle) })
	wg.Go(func() { receiveDeleteLoop(ctx, sc, qurl, led) })

	time.Sleep(killAfter)
	b.kill(t)
	cancel()
	wg.Wait()
	// The broker is gone: nothing can be acknowledged any more, so leave
	// and close without waiting on it.
	lctx, lcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	cons.LeaveGroupContext(lctx)
	lcancel()
	cons.Close()
	prod.Close()
	tr.CloseIdleConnections()
}

func getQueueURL(t *testing.T, sc *sqs.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := sc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(crashQueue)})
	if err != nil {
		t.Fatalf("GetQueueUrl: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

// produceLoop produces keyed records until ctx ends; each promise that
// reports success records where the broker put the record.
func produceLoop(ctx context.Context, cl *kgo.Client, led *ledger, cycle int) {
	for i := 0; ctx.Err() == nil; i++ {
		if i%100 == 99 {
			// Pace the producer (to tens of thousands of records a
			// second, not a million): the check reads everything back.
			time.Sleep(2 * time.Millisecond)
		}
		r := &kgo.Record{
			Topic: crashTopic,
			Key:   fmt.Appendf(nil, "k%d", i%17),
			Value: fmt.Appendf(nil, "c%d-r%d", cycle, i),
		}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				return
			}
			led.mu.Lock()
			led.records[recordKey{r.Partition, r.Offset}] = string(r.Value)
			led.mu.Unlock()
		})
	}
}

// commitLoop consumes as a group member and commits, after every poll, the
// position after the last record polled on each partition.
func commitLoop(ctx context.Context, cl *kgo.Client, led *ledger) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		offsets := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			offsets[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		if len(offsets) == 0 {
			continue
		}
		cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{crashTopic: offsets},
			func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					return
				}
				led.mu.Lock()
				defer led.mu.Unlock()
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						if rp.ErrorCode != 0 {
							continue
						}
						off, ok := requestedOffset(req, rt.Topic, rp.Partition)
						if !ok {
							continue
						}
						led.commitCount++
						if off > led.commits[rp.Partition] {
							led.commits[rp.Partition] = off
						}
					}
				}
			})
	}
}

func requestedOffset(req *kmsg.OffsetCommitRequest, topic string, partition int32) (int64, bool) {
	for _, t := range req.Topics {
		if t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.Offset, true
			}
		}
	}
	return 0, false
}

// sendLoop sends batches of ten; each entry in Successful is acknowledged.
func sendLoop(ctx context.Context, sc *sqs.Client, qurl string, led *ledger, cycle int) {
	for n := 0; ctx.Err() == nil; {
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(qurl)}
		bodies := map[string]string{}
		for j := range 10 {
			id := fmt.Sprint(j)
			body := fmt.Sprintf("c%d-m%d", cycle, n)
			n++
			bodies[id] = body
			in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)})
		}
		out, err := sc.SendMessageBatch(ctx, in)
		if err != nil {
			continue
		}
		led.mu.Lock()
		for _, s := range out.Successful {
			led.sent[bodies[aws.ToString(s.Id)]] = true
		}
		led.mu.Unlock()
	}
}

// receiveDeleteLoop receives and deletes every other message it gets; the
// rest come back after the visibility timeout. It is the only receiver and
// deletes right after receiving, so its receipt handles are current: SQS
// lets a delete with a stale handle succeed without deleting, and the
// check that acknowledged deletes stay deleted relies on there being none.
func receiveDeleteLoop(ctx context.Context, sc *sqs.Client, qurl string, led *ledger) {
	for k := 0; ctx.Err() == nil; {
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(qurl), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			continue
		}
		var del []sqstypes.Message
		for _, m := range out.Messages {
			if k++; k%2 == 0 {
				del = append(del, m)
			}
		}
		deleteBatch(ctx, sc, qurl, del, led)
	}
}

// deleteBatch deletes msgs and records each acknowledged delete.
func deleteBatch(ctx context.Context, sc *sqs.Client, qurl string, msgs []sqstypes.Message, led *ledger) error {
	if len(msgs) == 0 {
		return nil
	}
	in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(qurl)}
	bodies := map[string]string{}
	for i, m := range msgs {
		id := fmt.Sprint(i)
		bodies[id] = aws.ToString(m.Body)
		in.Entries = append(in.Entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(id), ReceiptHandle: m.ReceiptHandle})
	}
	led.mu.Lock()
	for _, body := range bodies {
		led.tried[body] = true
	}
	led.mu.Unlock()
	out, err := sc.DeleteMessageBatch(ctx, in)
	if err != nil {
		return err
	}
	led.mu.Lock()
	for _, s := range out.Successful {
		led.deleted[bodies[aws.ToString(s.Id)]] = true
	}
	led.mu.Unlock()
	if len(out.Failed) > 0 {
		return fmt.Errorf("DeleteMessageBatch: %d failed, first %s", len(out.Failed), aws.ToString(out.Failed[0].Code))
	}
	return nil
}

// ---- the checks after a restart ----

// verifyKafka reads every partition from the start to its end offset and
// checks that every acknowledged record is at its offset with its value.
func verifyKafka(t *testing.T, b *brokerProc, led *ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := b.kafkaClient(t, kgo.ConsumeTopics(crashTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, crashTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("ListEndOffsets: %v %v", err, ends.Error())
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })

	led.mu.Lock()
	want := make(map[recordKey]string, len(led.records))
	for k, v := range led.records {
		want[k] = v
	}
	led.mu.Unlock()

	got := make(map[recordKey]string, len(want))
	next := map[int32]int64{}
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("reading the topic back: timed out at %v of %v", next, end)
			break
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := got[recordKey{r.Partition, r.Offset}]; dup {
				t.Errorf("partition %d offset %d read twice", r.Partition, r.Offset)
			}
			got[recordKey{r.Partition, r.Offset}] = string(r.Value)
			next[r.Partition] = r.Offset + 1
		})
		if t.Failed() {
			return
		}
	}
	lost := 0
	for k, v := range want {
		g, ok := got[k]
		if ok && g == v {
			continue
		}
		if lost++; lost <= 10 {
			t.Errorf("acknowledged record lost: partition %d offset %d: want %q, got %q (present %v, end offset %d)",
				k.partition, k.offset, v, g, ok, end[k.partition])
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records lost or changed", lost, len(want))
	}
}

// verifyGroup checks the group's committed offsets against the highest
// acknowledged commit per partition.
func verifyGroup(t *testing.T, b *brokerProc, led *ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := b.kafkaClient(t)
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, crashGroup)
	if err == nil {
		err = offs.Error()
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("FetchOffsets: %v", err)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for p, want := range led.commits {
		got, ok := offs.Lookup(crashTopic, p)
		if !ok || got.At < want {
			t.Errorf("group %s partition %d: committed offset %d (found %v) is behind the acknowledged commit %d",
				crashGroup, p, got.At, ok, want)
		}
	}
}

// verifySQS drains the queue: every acknowledged send that was not
// acknowledged-deleted must be received, and no acknowledged delete may
// come back. Messages leased when the broker died come back after the
// visibility timeout, so the drain runs until everything expected was seen
// and the queue stayed empty for longer than that timeout.
func verifySQS(t *testing.T, b *brokerProc, led *ledger) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc, tr := b.sqsClient()
	defer tr.CloseIdleConnections()
	qurl := getQueueURL(t, sc)

	led.mu.Lock()
	expect := map[string]bool{}
	for body := range led.sent {
		if !led.tried[body] {
			expect[body] = true
		}
	}
	deletedBefore := make(map[string]bool, len(led.deleted))
	for body := range led.deleted {
		deletedBefore[body] = true
	}
	led.mu.Unlock()

	received := 0
	lastMsg := time.Now()
	for len(expect) > 0 || time.Since(lastMsg) < crashVisibility+500*time.Millisecond {
		if ctx.Err() != nil {
			missing := []string{}
			for body := range expect {
				missing = append(missing, body)
			}
			if len(missing) > 10 {
				missing = missing[:10]
			}
			t.Errorf("SQS: %d acknowledged, undeleted messages not receivable after restart, e.g. %s",
				len(expect), strings.Join(missing, ", "))
			return received
		}
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(qurl), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("ReceiveMessage: %v", err)
				return received
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		lastMsg = time.Now()
		received += len(out.Messages)
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			if deletedBefore[body] {
				t.Errorf("SQS: message %q was deleted (acknowledged) before the kill and came back", body)
			}
			delete(expect, body)
		}
		if err := deleteBatch(ctx, sc, qurl, out.Messages, led); err != nil {
			t.Errorf("drain delete: %v", err)
			return received
		}
	}
	return received
}
