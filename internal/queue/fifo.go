package queue

// FIFO queues. Delivery follows offset order: one scan from the floor
// examines messages in the order they were sent and hands out a message
// only if no earlier message of its group is in flight, being moved or
// still delayed. Several messages of one group may go out in one receive,
// in order, as SQS does. The scan is bounded (fifoScanLimit records per
// receive): a group blocked behind an in-flight message with a very deep
// backlog can hide later groups' messages until it drains — SQS has the
// same trade-off and documents the 120,000 in-flight limit for it. A scan
// that finds nothing records where it stopped (fifoResume), so the next one
// continues from there while nothing has changed.
//
// Deduplication: a map from deduplication key (the ID, or group + ID with
// DeduplicationScope=messageGroup) to the first message's ID and sequence
// number, expiring after five minutes. It survives a restart because the
// log keeps the last five minutes of messages (the log is never trimmed
// past them: see reclaimTarget) and recovery re-reads them.
//
// ReceiveRequestAttemptId: the leases a receive took are remembered for
// five minutes under its attempt ID; a retry with the same ID while every
// one of them is still in flight returns the same messages and handles
// (and restarts their visibility timeout). Not persisted: after a restart
// a retry receives afresh.

import (
	"slices"
)

// selectFIFOLocked picks messages of a FIFO queue in order.
func (q *Queue) selectFIFOLocked(now int64, n int, vtMs int64, out *[]Message, moves *[]*pick, mode int) (int64, error) {
	st := &q.st
	if len(st.timers)+st.moving >= maxInflight {
		return 0, errorf(CodeOverLimit, "The maximum number of in-flight messages (%d) is reached.", maxInflight)
	}
	from := st.del.floor
	blocked := map[string]bool{}
	if r := q.fifoResume; r != nil && r.gen == st.gen && r.from >= from {
		// Nothing became deliverable since a scan found nothing up to
		// r.from: go on from there with what it found blocked.
		from, blocked = r.from, r.blocked
	}
	q.fifoResume = nil
	next := from
	taken := map[string]bool{}
	var pos int64
	scanned := 0
	var derr error
	err := q.scanLog(from, func(r *logRecord) bool {
		if scanned++; scanned > fifoScanLimit {
			return false
		}
		next = r.offset + 1
		o := r.offset
		if st.del.has(o) {
			return true
		}
		e := st.tracked[o]
		var m storedMessage
		if e == nil {
			if derr = decodeValue(r.value, r.ts, false, &m); derr != nil {
				return false
			}
		}
		g := m.group
		if e != nil {
			g = e.group
		}
		if blocked[g] {
			return true
		}
		if (st.inflight[g] > 0 && !taken[g]) || (e != nil && e.state != stVisible) || r.ts > now {
			blocked[g] = true // in flight, moving or delayed: later messages of the group wait
			return true
		}
		if derr = decodeValue(r.value, r.ts, true, &m); derr != nil {
			return false
		}
		nOut, nMoves := len(*out), len(*moves)
		pos = max(pos, q.deliverLocked(o, e, &m, now, vtMs, out, moves, mode))
		switch {
		case len(*out) > nOut || (mode == modeTake && len(*moves) > nMoves):
			taken[g] = true
		case len(*moves) > nMoves:
			blocked[g] = true // going to the DLQ: the rest of the group waits for it
		}
		return len(*out)+len(*moves) < n
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return pos, q.failLocked(err)
	}
	if len(*out)+len(*moves) == 0 && mode == modeReceive {
		q.fifoResume = &fifoResume{gen: st.gen, from: next, blocked: blocked}
	}
	return pos, nil
}

// fifoResume is where a FIFO scan that found nothing stopped: as long as
// nothing becomes deliverable (deliveryState.gen unchanged), the next scan
// resumes there instead of re-reading every blocked message from the
// floor — a long poll woken by each send of a blocked group stays cheap.
type fifoResume struct {
	gen     uint64
	from    int64
	blocked map[string]bool
}

func (q *Queue) dedupKey(group, dedup string) string {
	if q.config().dedupPerGroup {
		return group + "\x00" + dedup
	}
	return dedup
}

// rememberDedupLocked records a sent message for deduplication.
func (q *Queue) rememberDedupLocked(group, dedup, id, seq string, expire int64) {
	key := q.dedupKey(group, dedup)
	q.dedup[key] = dedupEntry{id: id, seq: seq, expire: expire}
	q.dedupQ = append(q.dedupQ, dedupKey{key: key, expire: expire})
}

// expireCachesLocked forgets deduplication entries and receive attempts
// older than their windows.
func (q *Queue) expireCachesLocked(now int64) {
	i := 0
	for i < len(q.dedupQ) && q.dedupQ[i].expire <= now {
		k := q.dedupQ[i].key
		if d, ok := q.dedup[k]; ok && d.expire <= now {
			delete(q.dedup, k)
		}
		i++
	}
	if i > 0 {
		q.dedupQ = slices.Delete(q.dedupQ, 0, i)
	}
	for id, a := range q.attempts {
		if a.expire <= now {
			delete(q.attempts, id)
		}
	}
}

// rememberAttempt notes the leases a FIFO receive with an attempt ID took.
func (q *Queue) rememberAttempt(id string, out []Message) {
	a := &attempt{expire: q.now().Add(attemptWindow).UnixMilli()}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range out {
		if off, seq, ok := parseHandle(q.mac, m.ReceiptHandle); ok {
			a.leases = append(a.leases, [2]int64{off, int64(seq)})
		}
	}
	q.attempts[id] = a
}

// retryAttemptLocked answers a retried receive: the same messages and
// handles if all its leases still hold.
func (q *Queue) retryAttemptLocked(id string, now, vtMs int64) ([]Message, int64, bool) {
	a := q.attempts[id]
	if a == nil || a.expire <= now {
		return nil, 0, false
	}
	for _, l := range a.leases {
		e := q.st.tracked[l[0]]
		if e == nil || e.leaseSeq != uint64(l[1]) || e.state != stInflight {
			delete(q.attempts, id)
			return nil, 0, false
		}
	}
	out := make([]Message, 0, len(a.leases))
	var pos int64
	for _, l := range a.leases {
		e := q.st.tracked[l[0]]
		var m storedMessage
		if err := q.readMessage(e.offset, &m); err != nil {
			return nil, 0, false
		}
		q.st.setInflight(e, now+vtMs)
		pos = q.journalLocked(visibilityBody(q.body[:0], e.offset, e.leaseSeq, e.visibleAt))
		out = append(out, q.toMessage(e.offset, e, &m))
	}
	return out, pos, true
}
