package sluice

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPartitionTrackerOutOfOrder(t *testing.T) {
	tr := newPartitionTracker("t", 0)
	if _, ok := tr.pendingCommit(); ok {
		t.Fatal("nothing fetched must mean nothing to commit")
	}
	for off := int64(0); off < 5; off++ {
		if !tr.add(off, 0) {
			t.Fatalf("add(%d) refused", off)
		}
	}
	for _, off := range []int64{0, 1, 3} {
		if !tr.finish(off) {
			t.Fatalf("finish(%d) = false", off)
		}
	}
	if c := tr.committable(); c != 2 {
		t.Fatalf("committable after acking 0,1,3 = %d, want 2", c)
	}
	if tr.finish(3) {
		t.Fatal("second finish(3) must be a no-op")
	}
	if tr.finish(7) {
		t.Fatal("finish of an offset never fetched must be a no-op")
	}
	tr.finish(2)
	if c := tr.committable(); c != 4 {
		t.Fatalf("committable after 2 = %d, want 4", c)
	}
	tr.finish(4)
	if c := tr.committable(); c != 5 || tr.unfinished != 0 {
		t.Fatalf("committable = %d unfinished = %d, want 5, 0", c, tr.unfinished)
	}
}

func TestPartitionTrackerGapsAndDuplicates(t *testing.T) {
	tr := newPartitionTracker("t", 0)
	// Offsets with gaps (compaction, transaction markers).
	for _, off := range []int64{10, 11, 15, 20} {
		tr.add(off, 3)
	}
	if tr.add(15, 3) || tr.add(4, 3) {
		t.Fatal("offsets at or below the highest fetched must be refused")
	}
	tr.finish(10)
	tr.finish(15)
	if c := tr.committable(); c != 11 {
		t.Fatalf("committable = %d, want 11", c)
	}
	tr.finish(11)
	if c := tr.committable(); c != 20 {
		t.Fatalf("committable = %d, want 20 (the gap 16..19 is not a record)", c)
	}
	tr.finish(20)
	if c := tr.committable(); c != 21 {
		t.Fatalf("committable = %d, want 21", c)
	}
	tr.committed = 21
	if _, ok := tr.pendingCommit(); ok {
		t.Fatal("nothing new to commit")
	}
}

// A failed record (never acked) holds the commit however many records after
// it finish.
func TestPartitionTrackerFailedRecordHoldsCommit(t *testing.T) {
	tr := newPartitionTracker("t", 1)
	for off := int64(0); off < 1000; off++ {
		tr.add(off, 0)
	}
	for off := int64(0); off < 1000; off++ {
		if off != 7 {
			tr.finish(off)
		}
	}
	if c := tr.committable(); c != 7 {
		t.Fatalf("committable = %d, want 7", c)
	}
	if len(tr.offsets)-tr.head != 993 {
		t.Fatalf("live entries = %d, want 993", len(tr.offsets)-tr.head)
	}
}

func TestPartitionTrackerDrained(t *testing.T) {
	tr := newPartitionTracker("t", 0)
	tr.add(0, 0)
	tr.add(1, 0)
	tr.drained = make(chan struct{})
	ch := tr.drained
	tr.finish(1)
	select {
	case <-ch:
		t.Fatal("drained closed with 0 still in flight")
	default:
	}
	tr.finish(0)
	select {
	case <-ch:
	default:
		t.Fatal("drained not closed when the last record finished")
	}
}

// ksCheckTracker compares the tracker against a plain model: the set of
// unfinished offsets and the highest fetched.
func ksCheckTracker(t *testing.T, tr *partitionTracker, unfinished map[int64]bool, next int64) {
	t.Helper()
	want := next
	for off := range unfinished {
		if want < 0 || off < want {
			want = off
		}
	}
	if c := tr.committable(); c != want {
		t.Fatalf("committable = %d, want %d (unfinished %v)", c, want, slices.Sorted(maps.Keys(unfinished)))
	}
	if tr.unfinished != len(unfinished) {
		t.Fatalf("unfinished = %d, want %d", tr.unfinished, len(unfinished))
	}
	for off := range unfinished {
		if c := tr.committable(); c > off {
			t.Fatalf("committable %d passes unfinished %d", c, off)
		}
	}
}

// ksRunTrackerOps drives a tracker with ops decoded from data: each byte either
// fetches the next offset (with a gap of 0-3) or finishes one of the
// in-flight offsets (possibly one already finished), and checks the model
// after every step.
func ksRunTrackerOps(t *testing.T, data []byte) {
	tr := newPartitionTracker("f", 0)
	unfinished := map[int64]bool{}
	var fetched []int64
	next := int64(-1)
	nextOff := int64(0)
	for _, b := range data {
		if b&1 == 0 || len(fetched) == 0 {
			nextOff += int64(b>>1) & 3
			if !tr.add(nextOff, 0) {
				t.Fatalf("add(%d) refused", nextOff)
			}
			fetched = append(fetched, nextOff)
			unfinished[nextOff] = true
			next = nextOff + 1
			nextOff++
		} else {
			off := fetched[int(b>>1)%len(fetched)]
			got := tr.finish(off)
			if got != unfinished[off] {
				t.Fatalf("finish(%d) = %v, want %v", off, got, unfinished[off])
			}
			delete(unfinished, off)
		}
		ksCheckTracker(t, tr, unfinished, next)
	}
}

func FuzzPartitionTracker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 3, 7})
	f.Add([]byte{2, 4, 6, 8, 1, 1, 1, 5, 9})
	f.Add([]byte{0, 1, 0, 1, 0, 1})
	f.Fuzz(ksRunTrackerOps)
}

// TestPartitionTrackerRandom is the property test at a size fuzzing's seed
// corpus does not reach: thousands of records finished in random order, with
// compaction along the way.
func TestPartitionTrackerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		data := make([]byte, 3000)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		ksRunTrackerOps(t, data)
	}
}
