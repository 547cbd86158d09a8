package queue

// In-memory delivery state of one queue. Memory grows with the messages
// that need individual tracking — in flight, received and waiting to be
// redelivered, delayed, deleted out of order — never with the backlog:
// a message that was never received is just an offset at or after the
// scan cursor, and its bytes stay in the log.
//
//	floor      every offset below it is done (deleted, expired or moved);
//	           the log is trimmed up to it (logstore.DeleteRecordsBefore)
//	deleted    offsets at or above the floor that are done, as a bitmap of
//	           64-offset words in a map: out-of-order deletes cost about
//	           16 bytes per 64 offsets between the floor and the highest
//	           deleted offset, with no cap on their number
//	tracked    offset -> *entry for every message received at least once
//	           and not yet deleted (its receive count, first-receive time
//	           and current lease): in flight, or visible again
//	timers     min-heap of in-flight entries by visible-at time
//	ready      min-heap of offsets visible again below the scan cursor
//	           (leases that expired, delays that ended), oldest first
//	delayed    min-heap of (visible-at, offset) of delayed messages, 16
//	           bytes each, kept only while the delay lasts (≤ 15 minutes)

import (
	"container/heap"
	"math/bits"
	"slices"
)

// Entry states.
const (
	stInflight = iota + 1 // leased: in timers
	stReady               // visible again: in ready (standard queues)
	stVisible             // visible again (FIFO queues: found by the ordered scan)
	stMoving              // being moved (DLQ or copy forward): in no heap
)

// entry is a message that was received at least once.
type entry struct {
	offset     int64
	leaseSeq   uint64
	visibleAt  int64 // ms
	leaseStart int64 // ms of the receive that took the current lease
	firstRecv  int64 // ms
	sentMs     int64
	recvCount  int32
	state      uint8
	heapIdx    int
	group      string // FIFO message group
}

// deletedSet is the bitmap of done offsets at or above the floor.
type deletedSet struct {
	floor int64
	words map[int64]uint64
	count int64 // bits set
}

func newDeletedSet(floor int64) deletedSet {
	return deletedSet{floor: floor, words: make(map[int64]uint64)}
}

func (d *deletedSet) has(o int64) bool {
	if o < d.floor {
		return true
	}
	return d.words[o>>6]&(1<<(uint64(o)&63)) != 0
}

// add marks o done and reports whether it was not already.
func (d *deletedSet) add(o int64) bool {
	if o < d.floor {
		return false
	}
	w := d.words[o>>6]
	bit := uint64(1) << (uint64(o) & 63)
	if w&bit != 0 {
		return false
	}
	d.words[o>>6] = w | bit
	d.count++
	if o == d.floor {
		d.advance()
	}
	return true
}

// addRange marks [lo, hi) done, a word at a time (snapshot restore).
func (d *deletedSet) addRange(lo, hi int64) {
	lo = max(lo, d.floor)
	for lo < hi {
		k := lo >> 6
		first := uint64(lo) & 63
		n := min(hi-lo, 64-int64(first))
		mask := ^uint64(0)
		if n < 64 {
			mask = (1<<uint64(n) - 1) << first
		}
		w := d.words[k]
		d.count += int64(bits.OnesCount64(mask &^ w))
		d.words[k] = w | mask
		lo += n
	}
	d.advance()
}

// advance moves the floor past done offsets, dropping their bits.
func (d *deletedSet) advance() {
	for {
		k := d.floor >> 6
		w := d.words[k]
		shift := uint64(d.floor) & 63
		rest := w >> shift // bit 0 is the floor
		if rest&1 == 0 {
			return
		}
		run := int64(bits.TrailingZeros64(^rest)) // done offsets from the floor
		if run > 64-int64(shift) {
			run = 64 - int64(shift)
		}
		d.count -= run
		d.floor += run
		if uint64(d.floor)&63 == 0 {
			delete(d.words, k)
		} else {
			d.words[k] = w &^ (1<<uint64(d.floor&63) - 1)
		}
	}
}

// raiseFloor makes every offset below f done (purge, log start moved).
func (d *deletedSet) raiseFloor(f int64) {
	if f <= d.floor {
		return
	}
	for k, w := range d.words {
		if (k+1)<<6 <= f {
			d.count -= int64(bits.OnesCount64(w))
			delete(d.words, k)
		} else if k<<6 < f {
			low := w & (1<<uint64(f&63) - 1)
			d.count -= int64(bits.OnesCount64(low))
			d.words[k] = w &^ low
		}
	}
	d.floor = f
	d.advance()
}

// runs calls fn with the maximal runs [start, start+n) of done offsets
// above the floor, in increasing order.
func (d *deletedSet) runs(fn func(start, n int64)) {
	keys := make([]int64, 0, len(d.words))
	for k := range d.words {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var rs, rn int64 = -1, 0
	for _, k := range keys {
		w := d.words[k]
		for w != 0 {
			i := int64(bits.TrailingZeros64(w))
			n := int64(bits.TrailingZeros64(^(w >> uint64(i))))
			if n == 64 {
				n = 64 - i
			}
			o := k<<6 + i
			if rs >= 0 && rs+rn == o {
				rn += n
			} else {
				if rs >= 0 {
					fn(rs, rn)
				}
				rs, rn = o, n
			}
			if i+n >= 64 {
				break
			}
			w &^= (1<<uint64(n) - 1) << uint64(i)
		}
	}
	if rs >= 0 {
		fn(rs, rn)
	}
}

// timerHeap orders in-flight entries by visible-at time.
type timerHeap []*entry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].visibleAt != h[j].visibleAt {
		return h[i].visibleAt < h[j].visibleAt
	}
	return h[i].offset < h[j].offset
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *timerHeap) Push(x any) {
	e := x.(*entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}

// offsetHeap is a min-heap of offsets.
type offsetHeap []int64

func (h offsetHeap) Len() int           { return len(h) }
func (h offsetHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h offsetHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *offsetHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *offsetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// delayItem is a delayed message: 16 bytes.
type delayItem struct{ visibleAt, offset int64 }

type delayHeap []delayItem

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if h[i].visibleAt != h[j].visibleAt {
		return h[i].visibleAt < h[j].visibleAt
	}
	return h[i].offset < h[j].offset
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(delayItem)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// deliveryState is everything about one queue's delivery that is not in
// the log. Guarded by Queue.mu.
type deliveryState struct {
	del      deletedSet
	tracked  map[int64]*entry
	timers   timerHeap
	ready    offsetHeap
	delayed  delayHeap
	cursor   int64  // standard queues: next offset the forward scan looks at
	moving   int    // entries in stMoving
	gen      uint64 // bumped whenever a message may have become deliverable (FIFO scan resume)
	nextSeq  uint64
	inflight map[string]int // FIFO: in-flight (or moving) messages per group
}

func newDeliveryState(floor int64) deliveryState {
	return deliveryState{
		del:      newDeletedSet(floor),
		tracked:  make(map[int64]*entry),
		cursor:   floor,
		nextSeq:  1,
		inflight: make(map[string]int),
	}
}

// setInflight puts e in flight until visibleAt.
func (s *deliveryState) setInflight(e *entry, visibleAt int64) {
	if e.state == stInflight {
		e.visibleAt = visibleAt
		heap.Fix(&s.timers, e.heapIdx)
		return
	}
	if e.state == stMoving {
		s.moving--
	} else {
		s.groupInc(e)
	}
	e.state = stInflight
	e.visibleAt = visibleAt
	heap.Push(&s.timers, e)
}

// makeVisible ends e's lease (or move) so that it can be received again.
func (s *deliveryState) makeVisible(e *entry, fifo bool) {
	s.gen++
	if e.state == stInflight {
		heap.Remove(&s.timers, e.heapIdx)
	}
	if e.state == stInflight || e.state == stMoving {
		s.groupDec(e)
	}
	if e.state == stMoving {
		s.moving--
	}
	if fifo {
		e.state = stVisible
		return
	}
	e.state = stReady
	heap.Push(&s.ready, e.offset)
}

// setMoving takes e out of every heap while it is being moved.
func (s *deliveryState) setMoving(e *entry) {
	switch e.state {
	case stInflight:
		heap.Remove(&s.timers, e.heapIdx)
	case stReady, stVisible:
		s.groupInc(e) // a moving FIFO message still blocks its group
	}
	if e.state != stMoving {
		s.moving++
	}
	e.state = stMoving
}

// untrack forgets e (deleted). Its offset may stay in ready; the ready
// heap skips done offsets when it pops them.
func (s *deliveryState) untrack(e *entry) {
	s.gen++
	if e.state == stInflight {
		heap.Remove(&s.timers, e.heapIdx)
	}
	if e.state == stInflight || e.state == stMoving {
		s.groupDec(e)
	}
	if e.state == stMoving {
		s.moving--
	}
	e.state = 0
	delete(s.tracked, e.offset)
}

func (s *deliveryState) groupInc(e *entry) { s.inflight[e.group]++ }

func (s *deliveryState) groupDec(e *entry) {
	if n := s.inflight[e.group]; n <= 1 {
		delete(s.inflight, e.group)
	} else {
		s.inflight[e.group] = n - 1
	}
}

// markDone deletes the message at o (whatever its state) and reports
// whether it was live.
func (s *deliveryState) markDone(o int64) bool {
	if e := s.tracked[o]; e != nil {
		s.untrack(e)
	}
	return s.del.add(o)
}

// expire moves leases and delays that ended by now to the visible side.
func (s *deliveryState) expire(now int64, fifo bool) (woke bool) {
	for len(s.timers) > 0 && s.timers[0].visibleAt <= now {
		s.makeVisible(s.timers[0], fifo)
		woke = true
	}
	for len(s.delayed) > 0 && s.delayed[0].visibleAt <= now {
		it := heap.Pop(&s.delayed).(delayItem)
		woke = true
		s.gen++
		// The forward scan delivers it if it has not passed it yet; a
		// FIFO queue's ordered scan always does.
		if !fifo && it.offset < s.cursor && !s.del.has(it.offset) && s.tracked[it.offset] == nil {
			heap.Push(&s.ready, it.offset)
		}
	}
	return woke
}

// nextWake is the earliest time a lease or delay ends (0 if none).
func (s *deliveryState) nextWake() int64 {
	var t int64
	if len(s.timers) > 0 {
		t = s.timers[0].visibleAt
	}
	if len(s.delayed) > 0 && (t == 0 || s.delayed[0].visibleAt < t) {
		t = s.delayed[0].visibleAt
	}
	return t
}

// raiseFloor makes everything below f done (purge, log start offset).
func (s *deliveryState) raiseFloor(f int64) {
	if f <= s.del.floor {
		return
	}
	s.gen++
	for o, e := range s.tracked {
		if o < f {
			s.untrack(e)
		}
	}
	s.del.raiseFloor(f)
	s.cursor = max(s.cursor, s.del.floor)
	// Drop heap items below the new floor.
	kept := s.ready[:0]
	for _, o := range s.ready {
		if o >= f {
			kept = append(kept, o)
		}
	}
	s.ready = kept
	heap.Init(&s.ready)
	dk := s.delayed[:0]
	for _, it := range s.delayed {
		if it.offset >= f {
			dk = append(dk, it)
		}
	}
	s.delayed = dk
	heap.Init(&s.delayed)
}
