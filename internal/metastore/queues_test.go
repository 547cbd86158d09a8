package metastore

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestQueueCatalogRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "meta")
	s := mustOpen(t, dir)
	if qs, err := s.Queues(); err != nil || len(qs) != 0 {
		t.Fatalf("empty catalog: %v %v", qs, err)
	}
	a := QueueRecord{Name: "b-queue", Attributes: map[string]string{"VisibilityTimeout": "60"}, Tags: map[string]string{"team": "x"}, CreatedMs: 5, ModifiedMs: 6}
	b := QueueRecord{Name: "a.fifo", Attributes: map[string]string{"FifoQueue": "true"}, CreatedMs: 7, ModifiedMs: 7}
	for _, r := range []QueueRecord{a, b} {
		if err := s.PutQueue(r); err != nil {
			t.Fatal(err)
		}
	}
	// The caller's maps are copied: changing them afterwards changes nothing.
	a.Attributes["VisibilityTimeout"] = "1"
	s.Close()

	s2 := mustOpen(t, dir)
	qs, err := s2.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].Name != "a.fifo" || qs[1].Name != "b-queue" {
		t.Fatalf("catalog after reopen: %+v", qs)
	}
	if qs[1].Attributes["VisibilityTimeout"] != "60" || qs[1].Tags["team"] != "x" || qs[1].CreatedMs != 5 || qs[1].ModifiedMs != 6 {
		t.Fatalf("record changed: %+v", qs[1])
	}
	// Replace, then delete.
	qs[1].Attributes = map[string]string{"DelaySeconds": "5"}
	if err := s2.PutQueue(qs[1]); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteQueue("a.fifo"); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteQueue("a.fifo"); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("second delete: %v, want ErrUnknownQueue", err)
	}
	got, err := s2.Queues()
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueRecord{{Name: "b-queue", Attributes: map[string]string{"DelaySeconds": "5"}, Tags: map[string]string{"team": "x"}, CreatedMs: 5, ModifiedMs: 6}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if err := s2.PutQueue(QueueRecord{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestQueueCatalogCorrupt(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "meta")
	s := mustOpen(t, dir)
	if err := s.PutQueue(QueueRecord{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, queuesFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queues(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt catalog: %v, want ErrCorrupt", err)
	}
	if err := s.PutQueue(QueueRecord{Name: "r"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("put over a corrupt catalog: %v, want ErrCorrupt (never overwrite what cannot be read)", err)
	}
	// A duplicate name that passes the checksum is still corruption.
	dup := `{"queues":[{"name":"q","created_ms":1,"modified_ms":1},{"name":"q","created_ms":1,"modified_ms":1}]}`
	if err := writeFrameAtomic(p, kindQueues, []byte(dup)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queues(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("duplicate queue: %v, want ErrCorrupt", err)
	}
	s.Close()
	if _, err := s.Queues(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}
