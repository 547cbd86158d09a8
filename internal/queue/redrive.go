package queue

// Redrive by filter: the operator's tool (sluice dlq redrive) to move the
// visible messages of a queue that match a predicate — on the body or the
// attributes — to another queue, or back to the queue each came from.
// It is StartMessageMoveTask's selective, synchronous cousin: the same
// append-then-delete move (dlq.go), in batches of up to 10.

import (
	"context"
)

// Redrive moves up to max (0: no limit) visible messages of the queue
// source that match filter (nil: all) to dest, or, with dest "", back to
// the queue each message was dead-lettered from. In-flight and delayed
// messages are skipped. It returns how many messages moved; on an error,
// the ones moved so far stay moved.
func (m *Manager) Redrive(ctx context.Context, source, dest string, filter func(*Message) bool, max int) (int, error) {
	src := m.Get(source)
	if src == nil {
		return 0, noSuchQueue()
	}
	var dst *Queue
	if dest != "" {
		if dst = m.Get(dest); dst == nil {
			return 0, noSuchQueue()
		}
		if dst == src || dst.IsFIFO() != src.IsFIFO() {
			return 0, errorf(CodeInvalidParameterValue, "The destination must be another queue of the same type.")
		}
	}
	moved := 0
	cursor := ""
	for max == 0 || moved < max {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		page, next, err := src.Peek(cursor, 100)
		if err != nil {
			return moved, err
		}
		var offs []int64
		for i := range page {
			if filter == nil || filter(&page[i]) {
				offs = append(offs, page[i].offset)
			}
		}
		for len(offs) > 0 && (max == 0 || moved < max) {
			n := min(len(offs), maxBatchEntries)
			if max > 0 {
				n = min(n, max-moved)
			}
			k, err := m.redriveOffsets(src, dst, offs[:n])
			moved += k
			if err != nil {
				return moved, err
			}
			offs = offs[n:]
		}
		if next == "" {
			return moved, nil
		}
		cursor = next
	}
	return moved, nil
}

// redriveOffsets moves the messages at offs (those still visible).
func (m *Manager) redriveOffsets(src, dst *Queue, offs []int64) (int, error) {
	picks, err := src.takeOffsets(offs)
	if err != nil || len(picks) == 0 {
		return 0, err
	}
	groups := map[*Queue][]*pick{}
	var order []*Queue
	var undo []*pick
	for _, p := range picks {
		dq := dst
		if dq == nil {
			dq = m.Get(p.msg.dlqSource)
		}
		if dq == nil || dq == src || dq.IsFIFO() != src.IsFIFO() {
			undo = append(undo, p) // no known source: leave it where it is
			continue
		}
		if _, ok := groups[dq]; !ok {
			order = append(order, dq)
		}
		groups[dq] = append(groups[dq], p)
	}
	if len(undo) > 0 {
		src.settleMoves(undo, false)
	}
	moved := 0
	nowMs := m.cfg.Now().UnixMilli()
	for i, dq := range order {
		ps := groups[dq]
		msgs := make([]storedMessage, len(ps))
		for j, p := range ps {
			msgs[j] = p.msg
			msgs[j].dlqSource, msgs[j].seq, msgs[j].copy, msgs[j].visibleAt = "", "", false, nowMs
		}
		err := dq.appendMoved(msgs)
		n, pos := src.settleMoves(ps, err == nil)
		if err != nil {
			for _, rest := range order[i+1:] {
				src.settleMoves(groups[rest], false)
			}
			return moved, err
		}
		if pos > 0 {
			if err := src.waitJournal(pos); err != nil {
				return moved + n, err
			}
		}
		moved += n
	}
	return moved, nil
}

// takeOffsets takes the visible messages among offs for a move (state
// stMoving); the caller settles them with settleMoves.
func (q *Queue) takeOffsets(offs []int64) ([]*pick, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.usableLocked(); err != nil {
		return nil, err
	}
	now := q.now().UnixMilli()
	q.st.expire(now, q.fifo)
	var picks []*pick
	for _, o := range offs {
		if q.st.del.has(o) || o >= q.log.HighWatermark() {
			continue
		}
		e := q.st.tracked[o]
		if e != nil && e.state != stReady && e.state != stVisible {
			continue // in flight or already moving
		}
		var m storedMessage
		if err := q.readMessage(o, &m); err != nil {
			for _, p := range picks {
				q.st.makeVisible(p.e, q.fifo)
			}
			return nil, q.failLocked(err)
		}
		if m.visibleAt > now || m.copy && e == nil {
			continue // delayed, or a copy nobody owns yet
		}
		if e == nil {
			e = &entry{offset: o, sentMs: m.sentMs, group: m.group, heapIdx: -1, state: stReady}
			q.st.tracked[o] = e
		}
		q.st.setMoving(e)
		picks = append(picks, &pick{kind: pickTake, e: e, msg: m})
	}
	return picks, nil
}
