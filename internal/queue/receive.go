package queue

import (
	"container/heap"
	"context"
	"time"
)

// pick kinds: what a receive decided to do with a selected message.
const (
	pickDLQ  = 1 // move to the dead-letter queue
	pickCopy = 2 // copy forward, then lease
	pickTake = 3 // taken by a message move task
)

// Selection modes.
const (
	modeReceive = 0 // lease what is selected
	modeTake    = 1 // take it out for a move task (no lease)
)

type pick struct {
	kind int
	e    *entry
	msg  storedMessage
}

// Receive takes up to in.Max visible messages, leasing each for the
// visibility timeout, and long-polls up to the wait time when none is
// visible: a send, an expiring lease or delay, or a visibility change wakes
// it at once. Messages received more than the redrive policy's
// maxReceiveCount times are moved to the dead-letter queue instead; a
// message past the retention period is dropped instead.
func (q *Queue) Receive(ctx context.Context, in ReceiveInput) ([]Message, error) {
	n := in.Max
	if n == 0 {
		n = 1
	}
	if n < 1 || n > maxBatchEntries {
		return nil, errorf(CodeInvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", in.Max)
	}
	cfg := q.config()
	vt := cfg.visibility
	if in.VisibilityTimeout != nil {
		if *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > maxVisibilitySeconds {
			return nil, errorf(CodeInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", *in.VisibilityTimeout)
		}
		vt = *in.VisibilityTimeout
	}
	wait := time.Duration(cfg.wait) * time.Second
	if in.WaitTime != nil {
		if *in.WaitTime < 0 || *in.WaitTime > maxWaitSeconds*time.Second {
			return nil, errorf(CodeInvalidParameterValue, "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", int(in.WaitTime.Seconds()))
		}
		wait = *in.WaitTime
	}
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		out, pos, moves, notify, wakeAt, err := q.receiveOnce(n, int64(vt)*1000, in.AttemptID)
		if err != nil {
			return nil, err
		}
		moved := false
		if len(moves) > 0 {
			more, mpos, didMove, err := q.finishMoves(moves, int64(vt)*1000)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			pos = max(pos, mpos)
			moved = didMove
		}
		if len(out) > 0 {
			if err := q.waitJournal(pos); err != nil {
				return nil, err
			}
			if in.AttemptID != "" && q.fifo {
				q.rememberAttempt(in.AttemptID, out)
			}
			return out, nil
		}
		if pos > 0 {
			// Expired or dead-lettered messages: make that durable too.
			if err := q.waitJournal(pos); err != nil {
				return nil, err
			}
		}
		if moved {
			continue // dead-lettered some; look again at once
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if wakeAt > 0 {
			if d := time.Duration(wakeAt-q.now().UnixMilli()) * time.Millisecond; d < left {
				left = max(d, time.Millisecond)
			}
		}
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case <-notify:
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// receiveOnce selects and leases messages. It returns the leased messages,
// the journal position to wait for, messages to move, the channel a send
// closes and when the next lease or delay ends.
func (q *Queue) receiveOnce(n int, vtMs int64, attemptID string) (out []Message, pos int64, moves []*pick, notify chan struct{}, wakeAt int64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.usableLocked(); err != nil {
		return nil, 0, nil, nil, 0, err
	}
	now := q.now().UnixMilli()
	q.st.expire(now, q.fifo)
	if q.fifo {
		if attemptID != "" {
			if out, pos, ok := q.retryAttemptLocked(attemptID, now, vtMs); ok {
				return out, pos, nil, nil, 0, nil
			}
		}
		pos, err = q.selectFIFOLocked(now, n, vtMs, &out, &moves, modeReceive)
	} else {
		pos, err = q.selectStandardLocked(now, n, vtMs, &out, &moves, modeReceive)
	}
	if err != nil {
		for _, p := range moves {
			q.st.makeVisible(p.e, q.fifo)
		}
		return nil, 0, nil, nil, 0, err
	}
	return out, pos, moves, q.notify, q.st.nextWake(), nil
}

// selectStandardLocked picks messages of a standard queue: those visible
// again (oldest offset first), then new ones from the scan cursor.
func (q *Queue) selectStandardLocked(now int64, n int, vtMs int64, out *[]Message, moves *[]*pick, mode int) (int64, error) {
	st := &q.st
	var pos int64
	for len(*out)+len(*moves) < n {
		if len(st.timers)+st.moving >= maxInflight {
			if len(*out)+len(*moves) == 0 {
				return 0, errorf(CodeOverLimit, "The maximum number of in-flight messages (%d) is reached.", maxInflight)
			}
			break
		}
		if len(st.ready) > 0 {
			o := heap.Pop(&st.ready).(int64)
			e := st.tracked[o]
			if st.del.has(o) || (e != nil && e.state != stReady) {
				continue // stale heap item
			}
			var m storedMessage
			if err := q.readMessage(o, &m); err != nil {
				return pos, q.failLocked(err)
			}
			pos = max(pos, q.deliverLocked(o, e, &m, now, vtMs, out, moves, mode))
			continue
		}
		found := false
		var derr error
		err := q.scanLog(st.cursor, func(r *logRecord) bool {
			st.cursor = r.offset + 1
			if st.del.has(r.offset) || st.tracked[r.offset] != nil || r.ts > now {
				return true // done, tracked elsewhere, or delayed (in the delay heap)
			}
			var m storedMessage
			if derr = decodeValue(r.value, r.ts, true, &m); derr != nil {
				return false
			}
			if m.copy {
				if r.offset < q.openHW {
					// A copy from before a crash that its journal record
					// never named: the original is still live. Drop it.
					st.markDone(r.offset)
					pos = max(pos, q.journalLocked(deleteBody(q.body[:0], []int64{r.offset})))
				}
				return true // a copy in progress is delivered by its copier
			}
			pos = max(pos, q.deliverLocked(r.offset, nil, &m, now, vtMs, out, moves, mode))
			found = true
			return len(*out)+len(*moves) < n
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			return pos, q.failLocked(err)
		}
		if !found {
			break
		}
	}
	return pos, nil
}

// deliverLocked leases the message at o (e nil: never received), or drops
// it (retention), or sets it aside to move. It returns a journal position.
func (q *Queue) deliverLocked(o int64, e *entry, m *storedMessage, now, vtMs int64, out *[]Message, moves *[]*pick, mode int) int64 {
	st := &q.st
	cfg := q.config()
	if m.sentMs+int64(cfg.retention)*1000 <= now {
		st.markDone(o)
		q.expiredN++
		return q.journalLocked(deleteBody(q.body[:0], []int64{o}))
	}
	if mode == modeTake {
		if e == nil {
			e = &entry{offset: o, sentMs: m.sentMs, group: m.group, heapIdx: -1, state: stReady}
			st.tracked[o] = e
		}
		st.setMoving(e)
		*moves = append(*moves, &pick{kind: pickTake, e: e, msg: *m})
		return 0
	}
	if e != nil && cfg.redrive != nil && int(e.recvCount) >= cfg.redrive.maxReceiveCount && q.m.Get(cfg.redrive.dlqName) != nil {
		st.setMoving(e)
		*moves = append(*moves, &pick{kind: pickDLQ, e: e, msg: *m})
		return 0
	}
	if !q.fifo && e != nil && q.log.HighWatermark()-o > copyForwardLag {
		st.setMoving(e)
		*moves = append(*moves, &pick{kind: pickCopy, e: e, msg: *m})
		return 0
	}
	if e == nil {
		e = &entry{offset: o, sentMs: m.sentMs, group: m.group, heapIdx: -1}
		st.tracked[o] = e
	}
	pos := q.leaseLocked(e, now, vtMs, recLease, 0)
	*out = append(*out, q.toMessage(o, e, m))
	return pos
}

// leaseLocked gives e a new lease and journals it (typ recLease, or
// recCopy with the old offset).
func (q *Queue) leaseLocked(e *entry, now, vtMs int64, typ byte, old int64) int64 {
	st := &q.st
	if e.recvCount == 0 {
		e.firstRecv = now
	}
	e.recvCount++
	e.leaseSeq = st.nextSeq
	st.nextSeq++
	e.leaseStart = now
	st.setInflight(e, now+vtMs)
	q.received++
	l := e.leaseRec()
	return q.journalLocked(leaseBody(q.body[:0], typ, old, &l))
}

// toMessage builds what a receive returns.
func (q *Queue) toMessage(o int64, e *entry, m *storedMessage) Message {
	msg := Message{
		MessageID:             messageIDString(m.id),
		ReceiptHandle:         makeHandle(q.mac, o, e.leaseSeq),
		Body:                  m.body,
		Attributes:            m.attrs,
		SentTimestamp:         m.sentMs,
		FirstReceiveTimestamp: e.firstRecv,
		ReceiveCount:          int(e.recvCount),
		SenderID:              q.m.cfg.AccountID,
		GroupID:               m.group,
		offset:                o,
	}
	if q.fifo {
		msg.DedupID = m.dedup
		msg.SequenceNumber = q.seqOf(o, m)
	}
	if m.trace != "" || m.dlqSource != "" {
		msg.SystemAttributes = make(map[string]MessageAttributeValue, 2)
		if m.trace != "" {
			t := m.trace
			msg.SystemAttributes["AWSTraceHeader"] = MessageAttributeValue{DataType: "String", StringValue: &t}
		}
		if m.dlqSource != "" {
			src := q.m.ARN(m.dlqSource)
			msg.SystemAttributes["DeadLetterQueueSourceArn"] = MessageAttributeValue{DataType: "String", StringValue: &src}
		}
	}
	return msg
}

// Delete deletes the message a receipt handle names. A handle from an
// earlier receive of a message received again since (a stale handle), or
// of a message already deleted, succeeds without deleting anything, as
// SQS documents; a handle that is not one of this queue's is
// ReceiptHandleIsInvalid.
func (q *Queue) Delete(receiptHandle string) error {
	return q.DeleteBatch([]string{receiptHandle})[0]
}

// DeleteBatch deletes several messages with one journal write and one
// fsync. It returns one error (nil for success) per handle.
func (q *Queue) DeleteBatch(receiptHandles []string) []error {
	errs := make([]error, len(receiptHandles))
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var offs []int64
	for i, h := range receiptHandles {
		off, seq, ok := parseHandle(q.mac, h)
		if !ok {
			errs[i] = invalidHandle(h)
			continue
		}
		if q.st.del.has(off) {
			continue
		}
		e := q.st.tracked[off]
		if e == nil || e.leaseSeq != seq {
			continue // stale: succeeds, deletes nothing
		}
		q.st.markDone(off)
		offs = append(offs, off)
	}
	var pos int64
	if len(offs) > 0 {
		q.deletedN += int64(len(offs))
		pos = q.journalLocked(deleteBody(q.body[:0], offs))
		if q.fifo {
			q.wakeLocked() // their groups may be free now
		}
	}
	q.mu.Unlock()
	if pos > 0 {
		if err := q.waitJournal(pos); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

// ChangeVisibility sets the remaining visibility timeout of an in-flight
// message; 0 makes it visible at once. The total since its receive may not
// pass 12 hours.
func (q *Queue) ChangeVisibility(receiptHandle string, timeoutSeconds int) error {
	return q.ChangeVisibilityBatch([]string{receiptHandle}, []int{timeoutSeconds})[0]
}

// ChangeVisibilityBatch changes several messages with one fsync; the two
// slices are parallel. It returns one error (nil for success) per entry.
func (q *Queue) ChangeVisibilityBatch(receiptHandles []string, timeoutSeconds []int) []error {
	errs := make([]error, len(receiptHandles))
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	now := q.now().UnixMilli()
	q.st.expire(now, q.fifo)
	var pos int64
	woke := false
	for i, h := range receiptHandles {
		t := -1
		if i < len(timeoutSeconds) {
			t = timeoutSeconds[i]
		}
		if t < 0 || t > maxVisibilitySeconds {
			errs[i] = errorf(CodeInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", t)
			continue
		}
		off, seq, ok := parseHandle(q.mac, h)
		if !ok {
			errs[i] = invalidHandle(h)
			continue
		}
		e := q.st.tracked[off]
		if q.st.del.has(off) || e == nil || e.leaseSeq != seq {
			errs[i] = errorf(CodeInvalidParameterValue, "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", h)
			continue
		}
		if e.state != stInflight {
			errs[i] = errorf(CodeMessageNotInflight, "The message referred to is not in flight.")
			continue
		}
		visibleAt := now + int64(t)*1000
		if visibleAt-e.leaseStart > maxVisibilitySeconds*1000 {
			errs[i] = errorf(CodeInvalidParameterValue, "Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", t)
			continue
		}
		if t == 0 {
			q.st.makeVisible(e, q.fifo)
			e.visibleAt = now
			woke = true
		} else {
			q.st.setInflight(e, visibleAt)
		}
		pos = q.journalLocked(visibilityBody(q.body[:0], off, seq, e.visibleAt))
	}
	if woke {
		q.wakeLocked()
	}
	q.mu.Unlock()
	if pos > 0 {
		if err := q.waitJournal(pos); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

// Purge deletes every message in the queue (in flight and delayed too).
// A second purge within 60 seconds is PurgeQueueInProgress.
func (q *Queue) Purge() error {
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		return err
	}
	now := q.now()
	if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < purgeInterval {
		q.mu.Unlock()
		return errorf(CodePurgeQueueInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name)
	}
	q.lastPurge = now
	hw := q.log.HighWatermark()
	live := hw - q.st.del.floor - q.st.del.count
	q.st.raiseFloor(hw)
	q.deletedN += live
	pos := q.journalLocked(purgeBody(q.body[:0], hw))
	q.mu.Unlock()
	return q.waitJournal(pos)
}
