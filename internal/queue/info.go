package queue

// Queue attributes, tags, counters, browsing and housekeeping.

import (
	"errors"
	"maps"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/metastore"
)

const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
	// sweepLimit bounds the records one retention sweep examines.
	sweepLimit = 100_000
)

// allAttrNames are the attribute names GetQueueAttributes accepts (besides
// "All").
var allAttrNames = map[string]bool{
	AttrDelaySeconds: true, AttrMaximumMessageSize: true, AttrMessageRetentionPeriod: true, AttrPolicy: true,
	AttrReceiveMessageWaitTimeSeconds: true, AttrVisibilityTimeout: true, AttrRedrivePolicy: true,
	AttrRedriveAllowPolicy: true, AttrKmsMasterKeyID: true, AttrKmsDataKeyReusePeriodSeconds: true,
	AttrSqsManagedSseEnabled: true, AttrFifoQueue: true, AttrContentBasedDeduplication: true,
	AttrDeduplicationScope: true, AttrFifoThroughputLimit: true, AttrSluiceMaximumDepth: true,
	AttrApproximateNumberOfMessages: true, AttrApproximateNumberOfMessagesNotVisible: true,
	AttrApproximateNumberOfMessagesDelayed: true, AttrCreatedTimestamp: true,
	AttrLastModifiedTimestamp: true, AttrQueueArn: true,
}

// Attributes returns the named attributes ("All" for every one), computed
// ones included. Names that do not apply to this kind of queue (FIFO ones
// on a standard queue, unset policies) are left out; unknown names are
// InvalidAttributeName.
func (q *Queue) Attributes(names []string) (map[string]string, error) {
	all := false
	for _, n := range names {
		if n == "All" {
			all = true
		} else if !allAttrNames[n] {
			return nil, errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", n)
		}
	}
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	q.mu.Lock()
	rec := q.rec
	q.mu.Unlock()
	st := q.Stats()
	avail := effectiveAttrs(q.name, rec.Attributes)
	avail[AttrApproximateNumberOfMessages] = strconv.FormatInt(st.Visible, 10)
	avail[AttrApproximateNumberOfMessagesNotVisible] = strconv.FormatInt(st.InFlight, 10)
	avail[AttrApproximateNumberOfMessagesDelayed] = strconv.FormatInt(st.Delayed, 10)
	avail[AttrCreatedTimestamp] = strconv.FormatInt(rec.CreatedMs/1000, 10)
	avail[AttrLastModifiedTimestamp] = strconv.FormatInt(rec.ModifiedMs/1000, 10)
	avail[AttrQueueArn] = q.m.ARN(q.name)
	if all {
		return avail, nil
	}
	for _, n := range names {
		if v, ok := avail[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// SetAttributes changes attributes, durably. An empty Policy,
// RedrivePolicy or RedriveAllowPolicy removes it.
func (q *Queue) SetAttributes(attrs map[string]string) error {
	norm, err := normalizeAttrs(q.m, q.name, q.fifo, attrs, false)
	if err != nil {
		return err
	}
	return q.updateRecord(func(r *metastore.QueueRecord) error {
		for k, v := range norm {
			if v == "" {
				delete(r.Attributes, k)
			} else {
				r.Attributes[k] = v
			}
		}
		r.ModifiedMs = q.now().UnixMilli()
		return nil
	})
}

// updateRecord changes the queue's catalog record durably, then in memory.
func (q *Queue) updateRecord(change func(r *metastore.QueueRecord) error) error {
	q.attrMu.Lock()
	defer q.attrMu.Unlock()
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		return err
	}
	rec := q.rec
	q.mu.Unlock()
	rec.Attributes = cloneAttrs(rec.Attributes)
	rec.Tags = cloneAttrs(rec.Tags)
	if err := change(&rec); err != nil {
		return err
	}
	if err := q.m.cfg.Meta.PutQueue(rec); err != nil {
		return err
	}
	q.mu.Lock()
	q.rec = rec
	q.setConfig(configFrom(q.name, rec.Attributes))
	q.wakeLocked() // a shorter wait or delay may apply now
	q.mu.Unlock()
	return nil
}

// Tags returns a copy of the queue's tags.
func (q *Queue) Tags() map[string]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return cloneAttrs(q.rec.Tags)
}

func validateTags(existing, add map[string]string) error {
	n := len(existing)
	for k, v := range add {
		if _, ok := existing[k]; !ok {
			n++
		}
		if k == "" || utf8.RuneCountInString(k) > maxTagKeyLen || utf8.RuneCountInString(v) > maxTagValueLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return errorf(CodeInvalidParameterValue, "Tag keys must be 1 to 128 characters and values at most 256 characters.")
		}
	}
	if n > maxTags {
		return errorf(CodeInvalidParameterValue, "Too many tags added for queue: a queue may have at most %d tags.", maxTags)
	}
	return nil
}

// Tag adds or replaces tags.
func (q *Queue) Tag(tags map[string]string) error {
	return q.updateRecord(func(r *metastore.QueueRecord) error {
		if err := validateTags(r.Tags, tags); err != nil {
			return err
		}
		maps.Copy(r.Tags, tags)
		return nil
	})
}

// Untag removes tags (missing keys are ignored).
func (q *Queue) Untag(keys []string) error {
	return q.updateRecord(func(r *metastore.QueueRecord) error {
		for _, k := range keys {
			delete(r.Tags, k)
		}
		return nil
	})
}

// Stats returns the queue's counters. Visible, InFlight and Delayed are
// exact at the moment of the call; Sent … DeadLettered count since the
// broker started.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UnixMilli()
	if q.usableLocked() == nil && q.st.expire(now, q.fifo) {
		q.wakeLocked()
	}
	st := &q.st
	hw := q.log.HighWatermark()
	live := max(hw-st.del.floor-st.del.count, 0)
	s := Stats{
		InFlight:     int64(len(st.timers) + st.moving),
		Delayed:      int64(len(st.delayed)),
		Sent:         q.sent,
		Received:     q.received,
		Deleted:      q.deletedN,
		DeadLettered: q.deadLettered,
	}
	s.Visible = max(live-s.InFlight-s.Delayed, 0)
	if live > 0 && q.usableLocked() == nil {
		oldest := int64(-1)
		if e := st.tracked[st.del.floor]; e != nil {
			oldest = e.sentMs
		} else {
			var m storedMessage
			_ = q.scanLog(st.del.floor, func(r *logRecord) bool {
				if decodeValue(r.value, r.ts, false, &m) == nil {
					oldest = m.sentMs
				}
				return false
			})
		}
		for _, e := range st.tracked {
			if oldest < 0 || e.sentMs < oldest {
				oldest = e.sentMs
			}
		}
		if oldest >= 0 {
			s.OldestAgeSeconds = max(now-oldest, 0) / 1000
		}
	}
	return s
}

// Peek returns up to max live messages from the position after names (""
// for the oldest), without leasing them, and the cursor for the next call
// ("" at the end). Messages carry no receipt handle.
func (q *Queue) Peek(after string, max int) ([]Message, string, error) {
	if max <= 0 {
		max = 10
	}
	max = min(max, 1000)
	from := int64(0)
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return nil, "", errorf(CodeInvalidParameterValue, "Invalid peek cursor %q.", after)
		}
		from = n
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.usableLocked(); err != nil {
		return nil, "", err
	}
	st := &q.st
	from = maxInt64(from, st.del.floor)
	var out []Message
	next := ""
	var derr error
	err := q.scanLog(from, func(r *logRecord) bool {
		if st.del.has(r.offset) {
			return true
		}
		if len(out) == max {
			next = strconv.FormatInt(r.offset, 10)
			return false
		}
		var m storedMessage
		if derr = decodeValue(r.value, r.ts, true, &m); derr != nil {
			return false
		}
		e := st.tracked[r.offset]
		if e == nil {
			e = &entry{}
		}
		msg := q.toMessage(r.offset, e, &m)
		msg.ReceiptHandle = ""
		out = append(out, msg)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// housekeep ends leases and delays, forgets old FIFO cache entries, drops
// messages past their retention period, trims consumed segments and
// checkpoints a long journal. The housekeeping loop calls it every second.
func (q *Queue) housekeep() {
	q.mu.Lock()
	if q.usableLocked() != nil {
		q.mu.Unlock()
		return
	}
	now := q.now().UnixMilli()
	if q.st.expire(now, q.fifo) {
		q.wakeLocked()
	}
	q.expireCachesLocked(now)
	pos := q.sweepRetentionLocked(now)
	target := q.reclaimTargetLocked(now)
	// Trimming writes the log's start-offset checkpoint (an fsync): do it
	// when a good stretch was consumed, or every 10 s.
	start := q.log.StartOffset()
	trim := target > start && (target-start >= 4096 || now-q.lastTrimMs >= 10_000)
	if trim {
		q.lastTrimMs = now
	}
	if q.j.currentSize() > checkpointBytes {
		if err := q.checkpointLocked(); err != nil {
			q.mu.Unlock()
			return
		}
	}
	q.mu.Unlock()
	if pos > 0 {
		if err := q.waitJournal(pos); err != nil {
			return
		}
	}
	if trim {
		if err := q.log.DeleteRecordsBefore(target); err != nil && !errors.Is(err, logstore.ErrClosed) {
			q.m.cfg.Logger.Warn("queue: trimming the message log failed", "queue", q.name, "err", err)
		}
	}
}

// sweepRetentionLocked drops messages older than MessageRetentionPeriod:
// tracked ones (a copied-forward message can sit at a high offset), then
// from the floor forward until the first one still within its period.
func (q *Queue) sweepRetentionLocked(now int64) int64 {
	st := &q.st
	cutoff := now - int64(q.config().retention)*1000
	var offs []int64
	for o, e := range st.tracked {
		if e.sentMs <= cutoff {
			st.markDone(o)
			offs = append(offs, o)
		}
	}
	scanned := 0
	var m storedMessage
	err := q.scanLog(st.del.floor, func(r *logRecord) bool {
		if scanned++; scanned > sweepLimit {
			return false
		}
		if st.del.has(r.offset) {
			return true
		}
		if decodeValue(r.value, r.ts, false, &m) != nil || m.sentMs > cutoff {
			return false
		}
		st.markDone(r.offset)
		offs = append(offs, r.offset)
		return true
	})
	if err != nil {
		q.failLocked(err)
		return 0
	}
	q.expiredN += int64(len(offs))
	var pos int64
	for len(offs) > 0 {
		k := min(len(offs), 100_000)
		pos = q.journalLocked(deleteBody(q.body[:0], offs[:k]))
		offs = offs[k:]
	}
	return pos
}

// reclaimTargetLocked is how far the log may be trimmed: the floor, but
// for a FIFO queue never past the messages of the deduplication window
// (recovery re-reads them).
func (q *Queue) reclaimTargetLocked(now int64) int64 {
	target := q.st.del.floor
	if q.fifo {
		off, _, err := q.log.OffsetForTimestamp(now - dedupWindow.Milliseconds() - 60_000)
		if err != nil {
			return 0
		}
		if off >= 0 && off < target {
			target = off
		}
	}
	return target
}
