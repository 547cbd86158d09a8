package queue

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestCreateIdempotentAndConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q, err := e.m.Create("q1", map[string]string{AttrVisibilityTimeout: "60"}, map[string]string{"team": "a"})
	if err != nil {
		t.Fatal(err)
	}
	// Same attributes (or a subset, or none): the same queue.
	for _, attrs := range []map[string]string{{AttrVisibilityTimeout: "60"}, nil, {AttrDelaySeconds: "0"}} {
		q2, err := e.m.Create("q1", attrs, nil)
		if err != nil || q2 != q {
			t.Fatalf("Create again with %v: %v", attrs, err)
		}
	}
	if _, err := e.m.Create("q1", map[string]string{AttrVisibilityTimeout: "61"}, nil); CodeOf(err) != CodeQueueNameExists {
		t.Fatalf("different attribute: %v", err)
	}
	for _, bad := range []string{"", "has space", "a.b", string(make([]byte, 81)), "x!"} {
		if _, err := e.m.Create(bad, nil, nil); CodeOf(err) != CodeInvalidParameterValue {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	for k, v := range map[string]string{
		AttrVisibilityTimeout: "43201", AttrDelaySeconds: "-1", AttrMaximumMessageSize: "1023",
		AttrMessageRetentionPeriod: "59", AttrReceiveMessageWaitTimeSeconds: "21", AttrPolicy: "{",
		AttrSluiceMaximumDepth: "-3", AttrVisibilityTimeout + "x": "1", AttrQueueArn: "x",
	} {
		if _, err := e.m.Create("bad-attr", map[string]string{k: v}, nil); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
	if e.m.Get("bad-attr") != nil {
		t.Fatal("a refused queue exists")
	}
	if _, err := e.m.Create("tags", nil, map[string]string{"": "x"}); err == nil {
		t.Fatal("empty tag key accepted")
	}
}

func TestAttributesComputedAndSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	created := e.clk.Now().Unix()
	q := e.create("a", nil)
	all, err := q.Attributes([]string{"All"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		AttrVisibilityTimeout: "30", AttrMaximumMessageSize: "1048576", AttrMessageRetentionPeriod: "345600",
		AttrDelaySeconds: "0", AttrReceiveMessageWaitTimeSeconds: "0", AttrSqsManagedSseEnabled: "true",
		AttrApproximateNumberOfMessages: "0", AttrApproximateNumberOfMessagesNotVisible: "0",
		AttrApproximateNumberOfMessagesDelayed: "0", AttrCreatedTimestamp: strconv.FormatInt(created, 10),
		AttrLastModifiedTimestamp: strconv.FormatInt(created, 10), AttrQueueArn: "arn:aws:sqs:us-east-1:000000000000:a",
	}
	for k, v := range want {
		if all[k] != v {
			t.Errorf("%s = %q, want %q", k, all[k], v)
		}
	}
	if len(all) != len(want) {
		t.Errorf("extra attributes: %v", all)
	}
	if _, err := q.Attributes([]string{"Nope"}); CodeOf(err) != CodeInvalidAttributeName {
		t.Fatalf("unknown attribute: %v", err)
	}
	e.clk.Advance(10 * time.Second)
	if err := q.SetAttributes(map[string]string{AttrVisibilityTimeout: "5", AttrReceiveMessageWaitTimeSeconds: "1"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, q.SetAttributes(map[string]string{AttrFifoQueue: "true"}), CodeInvalidAttributeName)
	wantCode(t, q.SetAttributes(map[string]string{AttrVisibilityTimeout: "x"}), CodeInvalidAttributeValue)
	sendBodies(t, q, "m1", "m2")
	recv(t, q, 1, nil)
	got, _ := q.Attributes([]string{AttrVisibilityTimeout, AttrApproximateNumberOfMessages, AttrApproximateNumberOfMessagesNotVisible, AttrLastModifiedTimestamp})
	if got[AttrVisibilityTimeout] != "5" || got[AttrApproximateNumberOfMessages] != "1" || got[AttrApproximateNumberOfMessagesNotVisible] != "1" ||
		got[AttrLastModifiedTimestamp] != strconv.FormatInt(created+10, 10) || len(got) != 4 {
		t.Fatalf("attributes %v", got)
	}
	e.clk.Advance(5 * time.Second) // the new default visibility timeout applies
	if len(recv(t, q, 10, nil)) != 2 {
		t.Fatal("queue VisibilityTimeout not applied")
	}
	// Tags.
	if err := q.Tag(map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Untag([]string{"a", "missing"}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	q = e.q("a")
	if tags := q.Tags(); len(tags) != 1 || tags["b"] != "2" {
		t.Fatalf("tags after reopen %v", tags)
	}
	if a, _ := q.Attributes([]string{AttrVisibilityTimeout}); a[AttrVisibilityTimeout] != "5" {
		t.Fatalf("attribute lost on reopen: %v", a)
	}
	fq := e.create("f.fifo", fifoAttrs())
	fa, _ := fq.Attributes([]string{"All"})
	if fa[AttrFifoQueue] != "true" || fa[AttrContentBasedDeduplication] != "false" || fa[AttrDeduplicationScope] != "queue" || fa[AttrFifoThroughputLimit] != "perQueue" {
		t.Fatalf("FIFO attributes %v", fa)
	}
}

func TestListDeleteAndOrphans(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	for _, n := range []string{"b", "a", "ab", "c"} {
		e.create(n, nil)
	}
	var names []string
	for _, q := range e.m.List("a") {
		names = append(names, q.Name())
	}
	if !slices.Equal(names, []string{"a", "ab"}) {
		t.Fatalf("List(a) = %v", names)
	}
	sendBodies(t, e.q("b"), "x")
	if err := e.m.Delete("b"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Delete("b"); CodeOf(err) != CodeQueueDoesNotExist {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "queues", "b")); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
	// Recreated with the same name: empty.
	b := e.create("b", nil)
	if s := b.Stats(); s.Visible != 0 {
		t.Fatalf("recreated queue holds %+v", s)
	}
	// A directory the catalog does not list is removed on open.
	orphan := filepath.Join(e.dir, "queues", "orphan")
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan kept: %v", err)
	}
	if len(e.m.List("")) != 4 {
		t.Fatalf("queues after reopen: %d", len(e.m.List("")))
	}
	if arn := e.m.ARN("x"); arn != "arn:aws:sqs:us-east-1:000000000000:x" {
		t.Fatal(arn)
	}
}

func TestPeek(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("peek", nil)
	for i := range 5 {
		sendBodies(t, q, strconv.Itoa(i))
	}
	m := recv(t, q, 1, nil)[0]
	mustDelete(t, q, m.ReceiptHandle) // "0"
	recv(t, q, 1, nil)                // "1" in flight: still listed
	page, next, err := q.Peek("", 3)
	if err != nil || !slices.Equal(bodiesOf(page), []string{"1", "2", "3"}) || next == "" || page[0].ReceiptHandle != "" || page[0].ReceiveCount != 1 {
		t.Fatalf("page %v next %q err %v", page, next, err)
	}
	page, next, err = q.Peek(next, 3)
	if err != nil || !slices.Equal(bodiesOf(page), []string{"4"}) || next != "" {
		t.Fatalf("page 2 %v next %q err %v", bodiesOf(page), next, err)
	}
	if _, _, err := q.Peek("x", 1); CodeOf(err) != CodeInvalidParameterValue {
		t.Fatal(err)
	}
	if s := q.Stats(); s.Visible != 3 || s.InFlight != 1 {
		t.Fatalf("peek changed state: %+v", s)
	}
}
