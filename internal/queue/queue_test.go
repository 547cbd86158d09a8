package queue

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runCrashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("jobs", nil)
	res := sendBodies(t, q, "a", "b", "c")
	if res[0].MessageID == res[1].MessageID || len(res[0].MessageID) != 36 {
		t.Fatalf("message IDs %q %q", res[0].MessageID, res[1].MessageID)
	}
	if s := q.Stats(); s.Visible != 3 || s.InFlight != 0 || s.Sent != 3 {
		t.Fatalf("stats after send: %+v", s)
	}
	msgs := recv(t, q, 10, nil)
	if got := bodiesOf(msgs); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("received %v", got)
	}
	m := msgs[0]
	if m.MessageID != res[0].MessageID || m.ReceiveCount != 1 || m.SentTimestamp != e.clk.Now().UnixMilli() ||
		m.FirstReceiveTimestamp != e.clk.Now().UnixMilli() || m.SenderID != "000000000000" || m.ReceiptHandle == "" {
		t.Fatalf("message %+v", m)
	}
	if s := q.Stats(); s.Visible != 0 || s.InFlight != 3 {
		t.Fatalf("stats after receive: %+v", s)
	}
	if more := recv(t, q, 10, nil); len(more) != 0 {
		t.Fatalf("in-flight messages received again: %v", bodiesOf(more))
	}
	for _, m := range msgs {
		mustDelete(t, q, m.ReceiptHandle)
	}
	mustDelete(t, q, msgs[0].ReceiptHandle) // deleting twice succeeds
	if s := q.Stats(); s.Visible != 0 || s.InFlight != 0 || s.Deleted != 3 {
		t.Fatalf("stats after delete: %+v", s)
	}
	e.clk.Advance(time.Hour)
	if more := recv(t, q, 10, nil); len(more) != 0 {
		t.Fatalf("deleted messages came back: %v", bodiesOf(more))
	}
}

func TestAttributesAndSystemAttributes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("attrs", nil)
	s, n := "hello", "12.5"
	in := SendInput{Body: "x", Attributes: map[string]MessageAttributeValue{
		"s": {DataType: "String", StringValue: &s},
		"n": {DataType: "Number.float", StringValue: &n},
		"b": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
	}, SystemAttributes: map[string]MessageAttributeValue{"AWSTraceHeader": {DataType: "String", StringValue: ptr("Root=1-abc")}}}
	if res, err := q.Send(context.Background(), []SendInput{in}); err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	m := recv(t, q, 1, nil)[0]
	if *m.Attributes["s"].StringValue != "hello" || *m.Attributes["n"].StringValue != "12.5" || m.Attributes["n"].DataType != "Number.float" ||
		!slices.Equal(m.Attributes["b"].BinaryValue, []byte{0, 1, 2}) || *m.SystemAttributes["AWSTraceHeader"].StringValue != "Root=1-abc" {
		t.Fatalf("attributes %+v system %+v", m.Attributes, m.SystemAttributes)
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("v", map[string]string{AttrMaximumMessageSize: "1024"})
	big := string(make([]byte, 1025))
	for i := range []byte(big) {
		_ = i
	}
	cases := []struct {
		name string
		in   SendInput
		code string
	}{
		{"empty body", SendInput{Body: ""}, CodeMissingParameter},
		{"bad char", SendInput{Body: "a\x01b"}, CodeInvalidMessageContents},
		{"bad utf8", SendInput{Body: "a\xffb"}, CodeInvalidMessageContents},
		{"too long", SendInput{Body: fmt.Sprintf("%01025d", 0)}, CodeInvalidParameterValue},
		{"delay", SendInput{Body: "x", DelaySeconds: ptr(901)}, CodeInvalidParameterValue},
		{"dedup on standard", SendInput{Body: "x", DedupID: "d"}, CodeInvalidParameterValue},
		{"reserved attr", SendInput{Body: "x", Attributes: map[string]MessageAttributeValue{"AWS.x": {DataType: "String", StringValue: ptr("v")}}}, CodeInvalidParameterValue},
		{"bad type", SendInput{Body: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "Int", StringValue: ptr("1")}}}, CodeInvalidParameterValue},
		{"bad number", SendInput{Body: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "Number", StringValue: ptr("1x")}}}, CodeInvalidParameterValue},
		{"empty string", SendInput{Body: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "String", StringValue: ptr("")}}}, CodeInvalidParameterValue},
		{"system attr", SendInput{Body: "x", SystemAttributes: map[string]MessageAttributeValue{"Other": {DataType: "String", StringValue: ptr("v")}}}, CodeInvalidParameterValue},
	}
	var ins []SendInput
	for _, c := range cases {
		ins = append(ins, c.in)
	}
	ins = append(ins[:9], SendInput{Body: "good"}) // 10 entries: 9 bad + 1 good
	res, err := q.Send(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if CodeOf(res[i].Err) != cases[i].code {
			t.Errorf("%s: %v, want %s", cases[i].name, res[i].Err, cases[i].code)
		}
	}
	if res[9].Err != nil || res[9].MessageID == "" {
		t.Fatalf("good entry failed: %+v", res[9])
	}
	for _, c := range cases[9:] {
		res, _ := q.Send(context.Background(), []SendInput{c.in})
		if CodeOf(res[0].Err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, res[0].Err, c.code)
		}
	}
	if _, err := q.Send(context.Background(), make([]SendInput, 11)); CodeOf(err) != CodeTooManyEntriesInBatchRequest {
		t.Fatalf("11 entries: %v", err)
	}
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"good"}) {
		t.Fatalf("stored %v, want only the good entry", got)
	}
	for _, ok := range []string{"0", "-1.5e10", "1e125", ".5", "12345678901234567890123456789012345678"} {
		if !validNumber(ok) {
			t.Errorf("validNumber(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "1e127", "123456789012345678901234567890123456789", "--1", "1.2.3", "e5"} {
		if validNumber(bad) {
			t.Errorf("validNumber(%q) = true", bad)
		}
	}
}

func TestVisibilityTimeoutRedelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("vis", map[string]string{AttrVisibilityTimeout: "10"})
	sendBodies(t, q, "m")
	first := recv(t, q, 1, nil)[0]
	e.clk.Advance(9 * time.Second)
	if len(recv(t, q, 1, nil)) != 0 {
		t.Fatal("received before the visibility timeout ended")
	}
	e.clk.Advance(time.Second)
	second := recv(t, q, 1, ptr(5))
	if len(second) != 1 || second[0].ReceiveCount != 2 || second[0].FirstReceiveTimestamp != first.FirstReceiveTimestamp {
		t.Fatalf("redelivery %+v", second)
	}
	if second[0].ReceiptHandle == first.ReceiptHandle {
		t.Fatal("receipt handle did not change")
	}
	// The stale handle succeeds without deleting.
	mustDelete(t, q, first.ReceiptHandle)
	if s := q.Stats(); s.InFlight != 1 {
		t.Fatalf("stale delete deleted: %+v", s)
	}
	e.clk.Advance(5 * time.Second)
	third := recv(t, q, 1, nil)
	if len(third) != 1 || third[0].ReceiveCount != 3 {
		t.Fatalf("per-receive visibility timeout not used: %+v", third)
	}
	mustDelete(t, q, third[0].ReceiptHandle)
	if s := q.Stats(); s.InFlight != 0 || s.Visible != 0 {
		t.Fatalf("after delete %+v", s)
	}
}

func TestChangeVisibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("cv", nil)
	sendBodies(t, q, "m")
	m := recv(t, q, 1, nil)[0]
	if err := q.ChangeVisibility(m.ReceiptHandle, 100); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(99 * time.Second)
	if len(recv(t, q, 1, nil)) != 0 {
		t.Fatal("visible before the changed timeout")
	}
	wantCode(t, q.ChangeVisibility(m.ReceiptHandle, 43200), CodeInvalidParameterValue) // beyond 12 h total
	wantCode(t, q.ChangeVisibility(m.ReceiptHandle, -1), CodeInvalidParameterValue)
	if err := q.ChangeVisibility(m.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, q.ChangeVisibility(m.ReceiptHandle, 10), CodeMessageNotInflight)
	m2 := recv(t, q, 1, nil)
	if len(m2) != 1 || m2[0].ReceiveCount != 2 {
		t.Fatalf("visibility 0 did not make it visible: %+v", m2)
	}
	wantCode(t, q.ChangeVisibility(m.ReceiptHandle, 10), CodeInvalidParameterValue) // stale handle
	wantCode(t, q.ChangeVisibility("garbage", 10), CodeReceiptHandleIsInvalid)
	wantCode(t, q.Delete("garbage"), CodeReceiptHandleIsInvalid)
	// A handle of another queue is not this queue's.
	other := e.create("other", nil)
	sendBodies(t, other, "o")
	om := recv(t, other, 1, nil)[0]
	wantCode(t, q.Delete(om.ReceiptHandle), CodeReceiptHandleIsInvalid)
	// Forged: flip a character of a real handle.
	h := []byte(m2[0].ReceiptHandle)
	h[5] ^= 1
	wantCode(t, q.Delete(string(h)), CodeReceiptHandleIsInvalid)
	errs := q.ChangeVisibilityBatch([]string{m2[0].ReceiptHandle, "bad"}, []int{30, 30})
	if errs[0] != nil || CodeOf(errs[1]) != CodeReceiptHandleIsInvalid {
		t.Fatalf("batch: %v", errs)
	}
}

func TestDelays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("delay", map[string]string{AttrDelaySeconds: "5"})
	res, err := q.Send(context.Background(), []SendInput{{Body: "queue-delay"}, {Body: "no-delay", DelaySeconds: ptr(0)}, {Body: "long", DelaySeconds: ptr(20)}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if s := q.Stats(); s.Delayed != 2 || s.Visible != 1 {
		t.Fatalf("stats %+v", s)
	}
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"no-delay"}) {
		t.Fatalf("got %v", got)
	}
	e.clk.Advance(5 * time.Second)
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"queue-delay"}) {
		t.Fatalf("got %v", got)
	}
	// Restart while one is still delayed: it stays delayed, then arrives.
	e.reopen()
	q = e.q("delay")
	if s := q.Stats(); s.Delayed != 1 || s.InFlight != 2 {
		t.Fatalf("stats after reopen %+v", s)
	}
	if len(recv(t, q, 10, nil)) != 0 {
		t.Fatal("delayed message early after reopen")
	}
	e.clk.Advance(15 * time.Second)
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"long"}) {
		t.Fatalf("got %v", got)
	}
}

func TestRetentionExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("ret", map[string]string{AttrMessageRetentionPeriod: "60"})
	sendBodies(t, q, "old1", "old2")
	inflight := recv(t, q, 1, ptr(3600))
	e.clk.Advance(30 * time.Second)
	sendBodies(t, q, "new")
	e.clk.Advance(30 * time.Second)
	// Receive never hands out an expired message.
	if got := bodiesOf(recv(t, q, 10, nil)); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("got %v", got)
	}
	q.housekeep()
	s := q.Stats()
	if s.Visible != 0 || s.InFlight != 1 {
		t.Fatalf("stats after sweep %+v (the in-flight expired one must be gone)", s)
	}
	mustDelete(t, q, inflight[0].ReceiptHandle) // its handle is stale now, and that is fine
	if q.st.del.floor != q.log.HighWatermark()-1 {
		t.Fatalf("floor %d, hw %d", q.st.del.floor, q.log.HighWatermark())
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("purge", nil)
	sendBodies(t, q, "a", "b")
	recv(t, q, 1, nil)
	if err := q.Purge(); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Visible+s.InFlight+s.Delayed != 0 {
		t.Fatalf("after purge %+v", s)
	}
	wantCode(t, q.Purge(), CodePurgeQueueInProgress)
	e.clk.Advance(60 * time.Second)
	sendBodies(t, q, "c")
	if err := q.Purge(); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Hour)
	e.reopen()
	q = e.q("purge")
	if got := recv(t, q, 10, nil); len(got) != 0 {
		t.Fatalf("purged messages back after reopen: %v", bodiesOf(got))
	}
}

func TestLongPollWokenBySend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	q := e.create("lp", nil)
	got := make(chan time.Time, 1)
	go func() {
		msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 1, WaitTime: ptr(10 * time.Second)})
		if err != nil || len(msgs) != 1 {
			t.Errorf("long poll: %v %v", msgs, err)
		}
		got <- time.Now()
	}()
	time.Sleep(100 * time.Millisecond) // let it start waiting
	start := time.Now()
	sendBodies(t, q, "wake")
	select {
	case at := <-got:
		if d := at.Sub(start); d > 100*time.Millisecond {
			t.Fatalf("long poll woke %v after the send", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll not woken")
	}
	// A long poll with nothing to receive returns empty after its wait.
	start = time.Now()
	msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 1, WaitTime: ptr(200 * time.Millisecond)})
	if err != nil || len(msgs) != 0 || time.Since(start) < 190*time.Millisecond {
		t.Fatalf("empty long poll: %v %v after %v", msgs, err, time.Since(start))
	}
	// Cancelled context ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Receive(ctx, ReceiveInput{Max: 1, WaitTime: ptr(10 * time.Second)}); err == nil {
		t.Fatal("cancelled long poll returned no error")
	}
	// Queue deletion ends it with QueueDoesNotExist.
	done := make(chan error, 1)
	go func() {
		_, err := q.Receive(context.Background(), ReceiveInput{Max: 1, WaitTime: ptr(10 * time.Second)})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := e.m.Delete("lp"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if CodeOf(err) != CodeQueueDoesNotExist {
			t.Fatalf("poll on deleted queue: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("poll not ended by delete")
	}
}

func TestLongPollWokenByVisibilityExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	q := e.create("lpv", nil)
	sendBodies(t, q, "m")
	recv(t, q, 1, ptr(1))
	start := time.Now()
	msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 1, WaitTime: ptr(5 * time.Second)})
	if err != nil || len(msgs) != 1 || msgs[0].ReceiveCount != 2 {
		t.Fatalf("%v %v", msgs, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("woken after %v", d)
	}
}

func TestReceiveValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("rv", nil)
	for _, in := range []ReceiveInput{{Max: 11}, {Max: -1}, {VisibilityTimeout: ptr(43201)}, {WaitTime: ptr(21 * time.Second)}} {
		if _, err := q.Receive(context.Background(), in); CodeOf(err) != CodeInvalidParameterValue {
			t.Errorf("%+v: %v", in, err)
		}
	}
}

func TestBackpressure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("bp", map[string]string{AttrSluiceMaximumDepth: "3"})
	res, err := q.Send(context.Background(), []SendInput{{Body: "1"}, {Body: "2"}, {Body: "3"}, {Body: "4"}})
	if err != nil {
		t.Fatal(err)
	}
	if res[2].Err != nil || CodeOf(res[3].Err) != CodeRequestThrottled {
		t.Fatalf("results %+v", res)
	}
	m := recv(t, q, 1, nil)[0] // in flight still counts
	res, _ = q.Send(context.Background(), []SendInput{{Body: "5"}})
	wantCode(t, res[0].Err, CodeRequestThrottled)
	mustDelete(t, q, m.ReceiptHandle)
	res, _ = q.Send(context.Background(), []SendInput{{Body: "5"}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	attrs, err := q.Attributes([]string{AttrSluiceMaximumDepth})
	if err != nil || attrs[AttrSluiceMaximumDepth] != "3" {
		t.Fatalf("%v %v", attrs, err)
	}
}
