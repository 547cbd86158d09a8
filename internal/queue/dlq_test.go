package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

func redrive(m *Manager, dlq string, n int) string {
	return fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, m.ARN(dlq), n)
}

func TestDeadLetterAfterMaxReceiveCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	dlq := e.create("dlq", nil)
	src := e.create("src", map[string]string{AttrRedrivePolicy: redrive(e.m, "dlq", 2), AttrVisibilityTimeout: "1"})
	res := sendBodies(t, src, "poison", "fine")
	for i := 1; i <= 2; i++ {
		msgs := recv(t, src, 10, nil)
		if len(msgs) != 2 || msgs[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v", i, msgs)
		}
		if i == 2 {
			mustDelete(t, src, msgs[1].ReceiptHandle) // "fine" succeeds the second time
		}
		e.clk.Advance(time.Second)
	}
	// Third receive: the poison message moves instead of being delivered.
	if msgs := recv(t, src, 10, nil); len(msgs) != 0 {
		t.Fatalf("poison message delivered a third time: %+v", msgs)
	}
	if s := src.Stats(); s.Visible+s.InFlight != 0 || s.DeadLettered != 1 {
		t.Fatalf("source stats %+v", s)
	}
	got := recv(t, dlq, 10, nil)
	if len(got) != 1 || got[0].Body != "poison" || got[0].MessageID != res[0].MessageID || got[0].ReceiveCount != 1 ||
		got[0].SentTimestamp != e.clk.Now().Add(-2*time.Second).UnixMilli() {
		t.Fatalf("DLQ got %+v", got)
	}
	if arn := got[0].SystemAttributes["DeadLetterQueueSourceArn"]; arn.StringValue == nil || *arn.StringValue != e.m.ARN("src") {
		t.Fatalf("DeadLetterQueueSourceArn %+v", got[0].SystemAttributes)
	}
	if srcs := e.m.DeadLetterSources("dlq"); len(srcs) != 1 || srcs[0].Name() != "src" {
		t.Fatalf("DeadLetterSources %v", srcs)
	}
	// The move survives a restart: the DLQ still has it, the source not.
	e.reopen()
	if s := e.q("src").Stats(); s.Visible+s.InFlight != 0 {
		t.Fatalf("source after reopen %+v", s)
	}
	if s := e.q("dlq").Stats(); s.InFlight != 1 {
		t.Fatalf("dlq after reopen %+v", s)
	}
}

func TestRedrivePolicyValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	e.create("std-dlq", nil)
	e.create("f-dlq.fifo", map[string]string{AttrFifoQueue: "true"})
	e.create("deny", map[string]string{AttrRedriveAllowPolicy: `{"redrivePermission":"denyAll"}`})
	e.create("byq", map[string]string{AttrRedriveAllowPolicy: fmt.Sprintf(`{"redrivePermission":"byQueue","sourceQueueArns":[%q]}`, e.m.ARN("allowed"))})
	for _, c := range []struct {
		name, policy string
	}{
		{"missing dlq", redrive(e.m, "nope", 3)},
		{"fifo dlq for standard", redrive(e.m, "f-dlq.fifo", 3)},
		{"deny all", redrive(e.m, "deny", 3)},
		{"not in byQueue", redrive(e.m, "byq", 3)},
		{"zero count", redrive(e.m, "std-dlq", 0)},
		{"too many", redrive(e.m, "std-dlq", 1001)},
		{"not json", "{"},
		{"foreign account", `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:std-dlq","maxReceiveCount":1}`},
	} {
		if _, err := e.m.Create("src", map[string]string{AttrRedrivePolicy: c.policy}, nil); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := e.m.Create("allowed", map[string]string{AttrRedrivePolicy: redrive(e.m, "byq", 3)}, nil); err != nil {
		t.Fatal(err)
	}
	// maxReceiveCount as a string, as some SDKs send it.
	q, err := e.m.Create("s", map[string]string{AttrRedrivePolicy: fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"4"}`, e.m.ARN("std-dlq"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := q.Attributes([]string{AttrRedrivePolicy})
	if want := redrive(e.m, "std-dlq", 4); a[AttrRedrivePolicy] != want {
		t.Fatalf("RedrivePolicy %s, want %s", a[AttrRedrivePolicy], want)
	}
	if err := q.SetAttributes(map[string]string{AttrRedrivePolicy: ""}); err != nil {
		t.Fatal(err)
	}
	if a, _ := q.Attributes([]string{"All"}); a[AttrRedrivePolicy] != "" {
		t.Fatalf("policy not removed: %v", a)
	}
	if _, err := e.m.Create("x", map[string]string{AttrRedriveAllowPolicy: `{"redrivePermission":"byQueue"}`}, nil); err == nil {
		t.Fatal("byQueue without sources accepted")
	}
}

func TestMoveTaskBackToSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	dlq := e.create("mt-dlq", nil)
	srcA := e.create("mt-a", map[string]string{AttrRedrivePolicy: redrive(e.m, "mt-dlq", 1)})
	srcB := e.create("mt-b", map[string]string{AttrRedrivePolicy: redrive(e.m, "mt-dlq", 1)})
	const perSource = 15
	for _, q := range []*Queue{srcA, srcB} {
		for i := range perSource {
			sendBodies(t, q, fmt.Sprintf("%s-%d", q.Name(), i))
		}
		// Receive each once with visibility 0, then again: moved.
		for len(recv(t, q, 10, ptr(0))) > 0 {
		}
	}
	if s := dlq.Stats(); s.Visible != 2*perSource {
		t.Fatalf("dlq holds %+v", s)
	}
	if _, err := e.m.StartMoveTask(e.m.ARN("mt-a"), "", 10); CodeOf(err) != CodeInvalidParameterValue {
		t.Fatalf("move from a non-DLQ: %v", err)
	}
	if _, err := e.m.StartMoveTask(e.m.ARN("nope"), "", 10); CodeOf(err) != CodeResourceNotFound {
		t.Fatalf("move from a missing queue: %v", err)
	}
	start := time.Now()
	h, err := e.m.StartMoveTask(e.m.ARN("mt-dlq"), "", 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.StartMoveTask(e.m.ARN("mt-dlq"), "", 20); CodeOf(err) != CodeInvalidParameterValue {
		t.Fatalf("second task: %v", err)
	}
	tasks, err := e.m.ListMoveTasks(e.m.ARN("mt-dlq"), 10)
	if err != nil || len(tasks) != 1 || tasks[0].TaskHandle != h || tasks[0].ToMove != 2*perSource {
		t.Fatalf("tasks %+v %v", tasks, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, _ = e.m.ListMoveTasks(e.m.ARN("mt-dlq"), 1)
		if tasks[0].Status != TaskRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if tasks[0].Status != TaskCompleted || tasks[0].Moved != 2*perSource {
		t.Fatalf("task %+v", tasks[0])
	}
	// 30 messages at 20/s with a burst of 10: at least ~1 s.
	if elapsed < 900*time.Millisecond {
		t.Fatalf("moved 30 messages in %v at 20/s", elapsed)
	}
	for _, q := range []*Queue{srcA, srcB} {
		var got []string
		for {
			msgs := recv(t, q, 10, nil)
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if m.ReceiveCount != 1 {
					t.Fatalf("receive count not reset: %+v", m)
				}
				got = append(got, m.Body)
			}
		}
		slices.Sort(got)
		if len(got) != perSource || got[0] != q.Name()+"-0" {
			t.Fatalf("%s got back %v", q.Name(), got)
		}
	}
	if s := dlq.Stats(); s.Visible+s.InFlight != 0 {
		t.Fatalf("dlq after move %+v", s)
	}
	if _, err := e.m.CancelMoveTask(h); CodeOf(err) != CodeInvalidParameterValue {
		t.Fatalf("cancel finished task: %v", err)
	}
}

func TestMoveTaskToDestinationAndCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	dlq := e.create("c-dlq", nil)
	src := e.create("c-src", map[string]string{AttrRedrivePolicy: redrive(e.m, "c-dlq", 1)})
	other := e.create("c-other", nil)
	for i := range 30 {
		sendBodies(t, src, fmt.Sprint(i))
	}
	for len(recv(t, src, 10, ptr(0))) > 0 {
	}
	h, err := e.m.StartMoveTask(e.m.ARN("c-dlq"), e.m.ARN("c-other"), 5)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	moved, err := e.m.CancelMoveTask(h)
	if err != nil {
		t.Fatal(err)
	}
	if moved < 1 || moved >= 30 {
		t.Fatalf("moved %d before cancel", moved)
	}
	tasks, _ := e.m.ListMoveTasks(e.m.ARN("c-dlq"), 1)
	if tasks[0].Status != TaskCancelled || tasks[0].TaskHandle != "" || tasks[0].Moved != moved {
		t.Fatalf("task %+v", tasks[0])
	}
	if o, d := other.Stats(), dlq.Stats(); o.Visible != moved || d.Visible != 30-moved {
		t.Fatalf("other %+v dlq %+v after moving %d", o, d, moved)
	}
	if _, err := e.m.CancelMoveTask("nope"); CodeOf(err) != CodeResourceNotFound {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestCopyForward(t *testing.T) {
	e := newEnv(t, true)
	old := copyForwardLag
	copyForwardLag = 20
	t.Cleanup(func() { copyForwardLag = old })
	q := e.create("cf", nil)
	sendBodies(t, q, "stuck")
	first := recv(t, q, 1, ptr(1))[0]
	for i := range 30 {
		sendBodies(t, q, fmt.Sprint(i))
	}
	// Consume the rest.
	for {
		msgs := recv(t, q, 10, ptr(3600))
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			mustDelete(t, q, m.ReceiptHandle)
		}
	}
	e.clk.Advance(2 * time.Second)
	again := recv(t, q, 1, ptr(3600))
	if len(again) != 1 || again[0].Body != "stuck" || again[0].MessageID != first.MessageID || again[0].ReceiveCount != 2 ||
		again[0].SentTimestamp != first.SentTimestamp {
		t.Fatalf("redelivery %+v", again)
	}
	if q.st.del.floor != q.log.HighWatermark()-1 {
		t.Fatalf("floor %d: the old offset still pins the log (hw %d)", q.st.del.floor, q.log.HighWatermark())
	}
	q.housekeep()
	if q.log.StartOffset() != q.st.del.floor {
		t.Fatalf("log start %d, floor %d", q.log.StartOffset(), q.st.del.floor)
	}
	e.reopen()
	q = e.q("cf")
	mustDelete(t, q, again[0].ReceiptHandle) // its lease survives the restart
	if s := q.Stats(); s.Visible+s.InFlight != 0 {
		t.Fatalf("after delete %+v", s)
	}
}

func TestCopyLeftoverFromCrashIsDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("junk", nil)
	sendBodies(t, q, "orig")
	// Simulate a crash after a copy was appended but before its journal
	// record: a copy record nobody names.
	m := storedMessage{sentMs: e.clk.Now().UnixMilli(), visibleAt: e.clk.Now().UnixMilli(), body: "orig", copy: true}
	b := new(batchBuilder)
	b.reset()
	b.add(&m)
	if _, err := q.log.Append(b.finish(), logstore.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	q = e.q("junk")
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"orig"}) {
		t.Fatalf("got %v, want the original only", got)
	}
	if s := q.Stats(); s.Visible != 0 || s.InFlight != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDLQMissingKeepsMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	e.create("gone", nil)
	src := e.create("keep", map[string]string{AttrRedrivePolicy: redrive(e.m, "gone", 1)})
	if err := e.m.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	sendBodies(t, src, "m")
	recv(t, src, 1, ptr(0))
	if msgs := recv(t, src, 1, ptr(0)); len(msgs) != 1 || msgs[0].ReceiveCount != 2 {
		t.Fatalf("with its DLQ gone the message must stay deliverable: %+v", msgs)
	}
}

func TestRedriveByFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	dlq := e.create("f-dlq", nil)
	src := e.create("f-src", map[string]string{AttrRedrivePolicy: redrive(e.m, "f-dlq", 1)})
	other := e.create("f-other", nil)
	for i := range 25 {
		sendBodies(t, src, fmt.Sprintf("job-%d-%s", i, map[bool]string{true: "retry", false: "skip"}[i%2 == 0]))
	}
	for len(recv(t, src, 10, ptr(0))) > 0 {
	}
	if s := dlq.Stats(); s.Visible != 25 {
		t.Fatalf("dlq %+v", s)
	}
	// One in flight in the DLQ: skipped.
	inflight := recv(t, dlq, 1, ptr(3600))[0]
	isRetry := func(m *Message) bool { return strings.HasSuffix(m.Body, "retry") }
	n, err := e.m.Redrive(context.Background(), "f-dlq", "", isRetry, 0)
	wantRetry := 13
	if strings.HasSuffix(inflight.Body, "retry") {
		wantRetry--
	}
	if err != nil || n != wantRetry {
		t.Fatalf("redrive moved %d (%v), want %d", n, err, wantRetry)
	}
	back := drain(t, src)
	for body := range back {
		if !strings.HasSuffix(body, "retry") {
			t.Fatalf("%s moved back", body)
		}
	}
	if len(back) != wantRetry {
		t.Fatalf("source got %d back", len(back))
	}
	// The rest, at most 5, to another queue.
	n, err = e.m.Redrive(context.Background(), "f-dlq", "f-other", nil, 5)
	if err != nil || n != 5 || other.Stats().Visible != 5 {
		t.Fatalf("moved %d (%v); other %+v", n, err, other.Stats())
	}
	if s := dlq.Stats(); s.Visible != int64(25-1-wantRetry-5) || s.InFlight != 1 {
		t.Fatalf("dlq after redrives %+v", s)
	}
	if _, err := e.m.Redrive(context.Background(), "nope", "", nil, 0); CodeOf(err) != CodeQueueDoesNotExist {
		t.Fatal(err)
	}
}
