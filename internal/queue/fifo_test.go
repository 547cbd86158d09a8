package queue

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

func fifoAttrs(extra ...string) map[string]string {
	a := map[string]string{AttrFifoQueue: "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i]] = extra[i+1]
	}
	return a
}

func TestFIFOOrderAndGroupBlocking(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("orders.fifo", fifoAttrs())
	var seqs []string
	for i, g := range []string{"A", "B", "A", "B", "A"} {
		r := sendFIFO(t, q, g, strconv.Itoa(i), g+strconv.Itoa(i))
		seqs = append(seqs, r.SequenceNumber)
	}
	for i := 1; i < len(seqs); i++ {
		if len(seqs[i]) != 20 || seqs[i] <= seqs[i-1] {
			t.Fatalf("sequence numbers %v", seqs)
		}
	}
	// One receive may return several messages of a group, in order.
	first := recv(t, q, 2, nil)
	if got := bodiesOf(first); !slices.Equal(got, []string{"A0", "B1"}) {
		t.Fatalf("got %v", got)
	}
	if first[0].SequenceNumber != seqs[0] || first[0].GroupID != "A" || first[0].DedupID != "0" {
		t.Fatalf("FIFO fields %+v", first[0])
	}
	// Both groups have a message in flight: nothing else is handed out.
	if got := recv(t, q, 10, nil); len(got) != 0 {
		t.Fatalf("blocked groups delivered %v", bodiesOf(got))
	}
	mustDelete(t, q, first[0].ReceiptHandle)
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"A2", "A4"}) {
		t.Fatalf("after deleting A0: %v", got)
	}
	// B1's lease expires: it comes back before B3.
	e.clk.Advance(31 * time.Second)
	got := recv(t, q, 10, nil)
	if !slices.Equal(bodiesOf(got), []string{"B1", "A2", "B3", "A4"}) || got[0].ReceiveCount != 2 || got[2].ReceiveCount != 1 {
		t.Fatalf("after expiry: %v", bodiesOf(got))
	}
}

func TestFIFODeduplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("dedup.fifo", fifoAttrs(AttrContentBasedDeduplication, "true"))
	r1 := sendFIFO(t, q, "g", "id-1", "x")
	r2 := sendFIFO(t, q, "g", "id-1", "different body, same id")
	if r2.MessageID != r1.MessageID || r2.SequenceNumber != r1.SequenceNumber {
		t.Fatalf("dedup'd send %+v, original %+v", r2, r1)
	}
	// Content-based: same body, no id.
	c1 := sendFIFO(t, q, "g", "", "same body")
	c2 := sendFIFO(t, q, "h", "", "same body") // scope is the queue by default
	if c1.MessageID != c2.MessageID {
		t.Fatal("content-based deduplication failed")
	}
	// Within one batch.
	res, err := q.Send(context.Background(), []SendInput{{Body: "b1", GroupID: "g", DedupID: "batch"}, {Body: "b2", GroupID: "g", DedupID: "batch"}})
	if err != nil || res[0].Err != nil || res[1].MessageID != res[0].MessageID || res[1].SequenceNumber != res[0].SequenceNumber {
		t.Fatalf("in-batch dedup %+v %v", res, err)
	}
	if s := q.Stats(); s.Visible != 3 {
		t.Fatalf("stored %d messages, want 3", s.Visible)
	}
	// The window survives a restart.
	e.reopen()
	q = e.q("dedup.fifo")
	if r := sendFIFO(t, q, "g", "id-1", "x"); r.MessageID != r1.MessageID {
		t.Fatal("dedup window lost across restart")
	}
	// And ends after five minutes.
	e.clk.Advance(5*time.Minute + time.Second)
	q.housekeep()
	if r := sendFIFO(t, q, "g", "id-1", "x"); r.MessageID == r1.MessageID {
		t.Fatal("deduplicated after the window")
	}
	// Message-group scope.
	g := e.create("scoped.fifo", fifoAttrs(AttrDeduplicationScope, "messageGroup", AttrFifoThroughputLimit, "perMessageGroupId"))
	if sendFIFO(t, g, "a", "d", "1").MessageID == sendFIFO(t, g, "b", "d", "2").MessageID {
		t.Fatal("messageGroup scope deduplicated across groups")
	}
}

func TestFIFOValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("v.fifo", fifoAttrs())
	res, _ := q.Send(context.Background(), []SendInput{
		{Body: "x", DedupID: "d"},                                     // no group
		{Body: "x", GroupID: "g"},                                     // no dedup id, no content-based
		{Body: "x", GroupID: "g", DedupID: "d", DelaySeconds: ptr(1)}, // per-message delay
		{Body: "x", GroupID: "bad group", DedupID: "d"},
	})
	for i, want := range []string{CodeMissingParameter, CodeInvalidParameterValue, CodeInvalidParameterValue, CodeInvalidParameterValue} {
		if CodeOf(res[i].Err) != want {
			t.Errorf("entry %d: %v, want %s", i, res[i].Err, want)
		}
	}
	for _, c := range []struct {
		name  string
		attrs map[string]string
	}{
		{"fifo name without attribute", nil},
		{"attribute without .fifo", fifoAttrs()},
	} {
		name := "v.fifo2"
		if c.attrs != nil {
			name = "nofifo"
		}
		if _, err := e.m.Create(name, c.attrs, nil); CodeOf(err) != CodeInvalidParameterValue {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := e.m.Create("std", map[string]string{AttrContentBasedDeduplication: "true"}, nil); CodeOf(err) != CodeInvalidAttributeName {
		t.Fatalf("FIFO attribute on a standard queue: %v", err)
	}
}

func TestFIFOReceiveRequestAttemptID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("att.fifo", fifoAttrs())
	for i := range 3 {
		sendFIFO(t, q, strconv.Itoa(i), strconv.Itoa(i), "m"+strconv.Itoa(i))
	}
	in := ReceiveInput{Max: 2, WaitTime: noWait, AttemptID: "try-1"}
	a, err := q.Receive(context.Background(), in)
	if err != nil || len(a) != 2 {
		t.Fatal(a, err)
	}
	b, err := q.Receive(context.Background(), in)
	if err != nil || len(b) != 2 || b[0].ReceiptHandle != a[0].ReceiptHandle || b[1].ReceiptHandle != a[1].ReceiptHandle {
		t.Fatalf("retry returned %+v, first %+v", b, a)
	}
	if s := q.Stats(); s.InFlight != 2 || s.Visible != 1 {
		t.Fatalf("retry took more messages: %+v", s)
	}
	// After the leases end, the same attempt ID receives afresh.
	e.clk.Advance(31 * time.Second)
	c, _ := q.Receive(context.Background(), ReceiveInput{Max: 10, WaitTime: noWait, AttemptID: "try-1"})
	if len(c) != 3 || c[0].ReceiptHandle == a[0].ReceiptHandle {
		t.Fatalf("after expiry %+v", c)
	}
}

func TestFIFODeadLetterKeepsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	dlq := e.create("d.fifo", fifoAttrs())
	q := e.create("s.fifo", fifoAttrs(AttrRedrivePolicy, redrive(e.m, "d.fifo", 1)))
	sendFIFO(t, q, "g", "1", "first")
	sendFIFO(t, q, "g", "2", "second")
	m := recv(t, q, 1, ptr(0))
	if m[0].Body != "first" {
		t.Fatal(bodiesOf(m))
	}
	// "first" moves to the DLQ; "second" is delivered on the retry loop.
	got := recv(t, q, 1, nil)
	if !slices.Equal(bodiesOf(got), []string{"second"}) {
		t.Fatalf("got %v", bodiesOf(got))
	}
	if d := recv(t, dlq, 10, nil); !slices.Equal(bodiesOf(d), []string{"first"}) || d[0].GroupID != "g" {
		t.Fatalf("dlq got %+v", d)
	}
}

func TestFIFORestartKeepsSequenceAndLeases(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("r.fifo", fifoAttrs())
	r1 := sendFIFO(t, q, "g", "1", "a")
	sendFIFO(t, q, "g", "2", "b")
	m := recv(t, q, 1, nil)[0]
	e.reopen()
	q = e.q("r.fifo")
	if got := recv(t, q, 10, nil); len(got) != 0 {
		t.Fatalf("group not blocked after restart: %v", bodiesOf(got))
	}
	mustDelete(t, q, m.ReceiptHandle)
	got := recv(t, q, 10, nil)
	if !slices.Equal(bodiesOf(got), []string{"b"}) {
		t.Fatalf("got %v", bodiesOf(got))
	}
	if r3 := sendFIFO(t, q, "g", "3", "c"); r3.SequenceNumber <= r1.SequenceNumber {
		t.Fatalf("sequence went back: %s after %s", r3.SequenceNumber, r1.SequenceNumber)
	}
}

func TestFIFOScanResumesPastBlockedGroup(t *testing.T) {
	old := fifoScanLimit
	fifoScanLimit = 50
	t.Cleanup(func() { fifoScanLimit = old })
	e := newEnv(t, true)
	q := e.create("deep.fifo", fifoAttrs(AttrContentBasedDeduplication, "true"))
	for i := range 200 {
		sendFIFO(t, q, "A", "", "A"+strconv.Itoa(i))
	}
	sendFIFO(t, q, "B", "", "B0")
	first := recv(t, q, 1, nil)
	if first[0].Body != "A0" {
		t.Fatal(bodiesOf(first))
	}
	// Each empty scan goes 50 records further; B0 is found eventually.
	var got []Message
	for i := 0; i < 10 && len(got) == 0; i++ {
		got = recv(t, q, 10, nil)
	}
	if !slices.Equal(bodiesOf(got), []string{"B0"}) {
		t.Fatalf("got %v", bodiesOf(got))
	}
	// Deleting A0 frees group A: the scan starts over from the floor.
	mustDelete(t, q, first[0].ReceiptHandle)
	if got := recv(t, q, 1, nil); len(got) != 1 || got[0].Body != "A1" {
		t.Fatalf("after delete %v", bodiesOf(got))
	}
}

func TestFIFOQueueDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("delayed.fifo", fifoAttrs(AttrDelaySeconds, "10"))
	sendFIFO(t, q, "g", "1", "a")
	if got := recv(t, q, 10, nil); len(got) != 0 {
		t.Fatal("delayed FIFO message delivered early")
	}
	e.clk.Advance(10 * time.Second)
	if got := recv(t, q, 10, nil); !slices.Equal(bodiesOf(got), []string{"a"}) {
		t.Fatalf("got %v", bodiesOf(got))
	}
}
