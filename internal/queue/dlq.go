package queue

// Moving messages between logs: dead-lettering (a receive finds a message
// past maxReceiveCount), copy-forward (a redelivered message far behind
// the head is re-appended so that it stops pinning old segments) and
// message move tasks (StartMessageMoveTask, in movetask.go).
//
// Every move is append-then-delete: the message is appended to the
// destination log and fsynced, and only then is its old offset marked done
// in the source's journal. A crash between the two leaves the message in
// both places — a possible duplicate, never a loss. While a message is
// being moved it is in state stMoving: no receive hands it out (and, in a
// FIFO queue, its group stays blocked).

import (
	"fmt"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// finishMoves completes what a receive set aside: dead-letter moves and
// copies forward (which are then leased). It returns the leased messages
// and a journal position to wait for, and whether anything was
// dead-lettered.
func (q *Queue) finishMoves(moves []*pick, vtMs int64) ([]Message, int64, bool, error) {
	var dlqPicks, copyPicks []*pick
	for _, p := range moves {
		if p.kind == pickDLQ {
			dlqPicks = append(dlqPicks, p)
		} else {
			copyPicks = append(copyPicks, p)
		}
	}
	var pos int64
	moved := false
	if len(dlqPicks) > 0 {
		var err error
		dlqName := ""
		if rp := q.config().redrive; rp != nil {
			dlqName = rp.dlqName
		}
		dlq := q.m.Get(dlqName)
		if dlq == nil {
			err = fmt.Errorf("queue: dead-letter queue %q does not exist", dlqName)
		} else {
			msgs := make([]storedMessage, len(dlqPicks))
			for i, p := range dlqPicks {
				msgs[i] = p.msg
				msgs[i].dlqSource, msgs[i].seq, msgs[i].copy = q.name, "", false
			}
			err = dlq.appendMoved(msgs)
		}
		var n int
		n, pos = q.settleMoves(dlqPicks, err == nil)
		if err != nil {
			q.m.cfg.Logger.Warn("queue: dead-letter move failed; messages stay in the source", "queue", q.name, "dlq", dlqName, "err", err)
		} else {
			q.mu.Lock()
			q.deadLettered += int64(n)
			q.mu.Unlock()
			moved = n > 0
		}
	}
	if len(copyPicks) == 0 {
		return nil, pos, moved, nil
	}
	b := builderPool.Get().(*batchBuilder)
	defer builderPool.Put(b)
	b.reset()
	nowMs := q.now().UnixMilli()
	for _, p := range copyPicks {
		m := p.msg
		m.copy, m.visibleAt = true, nowMs
		b.add(&m)
	}
	res, err := q.log.Append(b.finish(), logstore.AppendOptions{})
	q.mu.Lock()
	defer q.mu.Unlock()
	st := &q.st
	now := q.now().UnixMilli()
	var out []Message
	for k, p := range copyPicks {
		if err != nil {
			if p.e.state == stMoving {
				st.makeVisible(p.e, q.fifo)
			}
			continue
		}
		newOff := res.BaseOffset + int64(k)
		if p.e.state != stMoving || q.closed {
			// Deleted (or purged) while being copied: the copy is junk.
			st.markDone(newOff)
			pos = max(pos, q.journalLocked(deleteBody(q.body[:0], []int64{newOff})))
			continue
		}
		old := p.e.offset
		ne := &entry{offset: newOff, sentMs: p.e.sentMs, group: p.e.group, recvCount: p.e.recvCount, firstRecv: p.e.firstRecv, heapIdx: -1}
		st.untrack(p.e)
		st.del.add(old)
		st.tracked[newOff] = ne
		pos = max(pos, q.leaseLocked(ne, now, vtMs, recCopy, old))
		out = append(out, q.toMessage(newOff, ne, &p.msg))
	}
	if err != nil {
		q.wakeLocked()
		return nil, pos, moved, fmt.Errorf("%w: queue %s: copy forward: %v", ErrStorage, q.name, err)
	}
	return out, pos, moved, nil
}

// settleMoves ends moves out of this queue: done (the destination has the
// messages durably) or undone (they are visible again). It returns how
// many were settled as done and the journal position of their deletes.
func (q *Queue) settleMoves(picks []*pick, done bool) (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var offs []int64
	for _, p := range picks {
		if p.e.state != stMoving {
			continue // deleted or purged meanwhile
		}
		if done {
			q.st.markDone(p.e.offset)
			offs = append(offs, p.e.offset)
		} else {
			q.st.makeVisible(p.e, q.fifo)
		}
	}
	if !done {
		q.wakeLocked()
		return 0, 0
	}
	var pos int64
	n := len(offs)
	for len(offs) > 0 && q.usableLocked() == nil {
		k := min(len(offs), 100_000)
		pos = q.journalLocked(deleteBody(q.body[:0], offs[:k]))
		offs = offs[k:]
	}
	return n, pos
}

// appendMoved appends messages moved in from another queue as one batch,
// durably, and makes them deliverable. Moves are not throttled by
// SluiceMaximumDepth: refusing one would leave a poison message cycling.
func (q *Queue) appendMoved(msgs []storedMessage) error {
	if q.fifo {
		q.sendMu.Lock()
		defer q.sendMu.Unlock()
	}
	q.mu.Lock()
	err := q.usableLocked()
	q.mu.Unlock()
	if err != nil {
		return err
	}
	b := builderPool.Get().(*batchBuilder)
	defer builderPool.Put(b)
	for start := 0; start < len(msgs); {
		b.reset()
		size := 0
		end := start
		// Keep each batch well under the log's MaxBatchBytes.
		for end < len(msgs) && (end == start || size+len(msgs[end].body) < 8<<20) {
			size += len(msgs[end].body) + 1024
			b.add(&msgs[end])
			end++
		}
		res, err := q.log.Append(b.finish(), logstore.AppendOptions{})
		if err != nil {
			return fmt.Errorf("%w: queue %s: append: %v", ErrStorage, q.name, err)
		}
		q.mu.Lock()
		now := q.now().UnixMilli()
		for k := start; k < end; k++ {
			q.registerLocked(res.BaseOffset+int64(k-start), msgs[k].visibleAt, now, false)
		}
		q.sent += int64(end - start)
		q.wakeLocked()
		q.mu.Unlock()
		start = end
	}
	return nil
}

// take selects up to n visible messages for a move task, in state
// stMoving. The caller settles them with settleMoves.
func (q *Queue) take(n int) ([]*pick, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.usableLocked(); err != nil {
		return nil, err
	}
	now := q.now().UnixMilli()
	q.st.expire(now, q.fifo)
	var out []Message
	var moves []*pick
	var err error
	if q.fifo {
		_, err = q.selectFIFOLocked(now, n, 0, &out, &moves, modeTake)
	} else {
		_, err = q.selectStandardLocked(now, n, 0, &out, &moves, modeTake)
	}
	if err != nil {
		for _, p := range moves {
			q.st.makeVisible(p.e, q.fifo)
		}
		return nil, err
	}
	return moves, nil
}
