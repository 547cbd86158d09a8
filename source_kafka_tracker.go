package sluice

// The in-flight tracker of the Kafka source: which records of one partition
// have been handed to the worker and which of them are finished, so that the
// committed offset never passes a record that is still running or that
// failed without being dead-lettered.
//
// A Kafka consumer group stores one number per partition: the offset of the
// next record to read. With records of one partition processed in parallel,
// offsets finish out of order (0, 1, 3 done, 2 still running). Committing 4
// would lose 2 if the process died; the only safe commit is the lowest
// unfinished offset (2). The tracker keeps, per partition and per
// assignment, the fetched offsets in fetch order (ascending, since a
// partition is read in order) with a done flag each, and drops the finished
// prefix as it forms. Memory is proportional to records in flight, never to
// backlog.

// partitionTracker follows one partition for one assignment of it to this
// member. A partition revoked and later assigned again gets a new tracker, so
// that acknowledgements of records from the old assignment (which the new
// assignment reads again) cannot move the new one's commit.
//
// Not safe for concurrent use: the source guards every tracker with its mutex.
type partitionTracker struct {
	topic     string
	partition int32

	// offsets[head:] are fetched records not yet part of the finished
	// prefix, ascending; done[i] says whether offsets[i] is finished. Entries
	// before head are garbage awaiting compaction.
	offsets []int64
	done    []bool
	head    int

	next       int64 // one past the highest offset fetched; -1 before the first
	nextEpoch  int32 // leader epoch of the highest offset fetched
	unfinished int   // entries in offsets[head:] with done == false

	committed int64 // offset last committed for this assignment; -1 none yet

	revoked bool          // the partition left this member; acks are ignored
	drained chan struct{} // non-nil while a revoke waits: closed when unfinished reaches 0
}

func newPartitionTracker(topic string, partition int32) *partitionTracker {
	return &partitionTracker{topic: topic, partition: partition, next: -1, committed: -1}
}

// add records a fetched offset as in flight. It refuses (false) an offset at
// or below one already fetched: within one assignment Kafka delivers a
// partition in order, so such a record is a duplicate whose earlier copy the
// tracker already follows.
func (t *partitionTracker) add(offset int64, epoch int32) bool {
	if offset < 0 || offset < t.next {
		return false
	}
	t.offsets = append(t.offsets, offset)
	t.done = append(t.done, false)
	t.unfinished++
	t.next = offset + 1
	t.nextEpoch = epoch
	return true
}

// finish marks offset done (acked or dead-lettered). It reports whether the
// offset was in flight; finishing an unknown or already finished offset is a
// no-op, so that a double Ack cannot make another record look finished.
func (t *partitionTracker) finish(offset int64) bool {
	live := t.offsets[t.head:]
	// Binary search: live is ascending.
	lo, hi := 0, len(live)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if live[mid] < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(live) || live[lo] != offset || t.done[t.head+lo] {
		return false
	}
	t.done[t.head+lo] = true
	t.unfinished--
	// Drop the finished prefix.
	for t.head < len(t.offsets) && t.done[t.head] {
		t.head++
	}
	t.compact()
	if t.unfinished == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
	return true
}

// compact reclaims the dropped prefix once it is at least half of the
// slices, so that append keeps amortised O(1) cost and memory stays
// proportional to what is in flight.
func (t *partitionTracker) compact() {
	if t.head == len(t.offsets) {
		t.offsets, t.done, t.head = t.offsets[:0], t.done[:0], 0
		return
	}
	if t.head < 64 || t.head < len(t.offsets)/2 {
		return
	}
	n := copy(t.offsets, t.offsets[t.head:])
	copy(t.done, t.done[t.head:])
	t.offsets, t.done, t.head = t.offsets[:n], t.done[:n], 0
}

// committable returns the offset safe to commit: the lowest unfinished
// offset, or one past the highest fetched offset when everything fetched is
// finished; -1 when nothing was fetched in this assignment. The finished
// prefix was dropped, so the first live entry, if any, is unfinished.
func (t *partitionTracker) committable() int64 {
	if t.head < len(t.offsets) {
		return t.offsets[t.head]
	}
	return t.next
}

// pendingCommit returns the offset to commit and whether it advances past
// what this assignment already committed.
func (t *partitionTracker) pendingCommit() (int64, bool) {
	c := t.committable()
	return c, c >= 0 && c > t.committed
}
