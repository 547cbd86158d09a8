package queue

// A Queue is one SQS queue: its message log, its delivery state (state.go)
// persisted by snapshot + journal, and its configuration from the catalog.
//
// Concurrency. Queue.mu guards the delivery state, the configuration, the
// FIFO caches and the read cache. It is never held across a log append or
// an fsync: senders append to the log (which group-commits) without it
// and take it only to register what they appended; state changes are
// applied and journaled under it and waited for after it is released.
// Queue.sendMu serializes FIFO sends (deduplication must see each send's
// result before the next one checks). Queue.attrMu serializes catalog
// writes of this queue.
//
// Lock order: Manager.mu, Queue.attrMu, Queue.sendMu, Queue.mu,
// journal.mu. A queue never holds its own mu while taking another
// queue's (DLQ moves release it first).

import (
	"container/heap"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/metastore"
)

// Tunables (variables so tests can shrink them).
var (
	// segmentBytes is the message log's segment size: consumed segments
	// are reclaimed whole, so smaller segments free space sooner.
	segmentBytes int64 = 64 << 20
	// checkpointBytes: a journal larger than this is folded into a new
	// snapshot by the housekeeping tick.
	checkpointBytes int64 = 8 << 20
	// copyForwardLag: a message that is redelivered when more than this
	// many offsets were appended after it is copied to the head of the
	// log, so that it does not keep old segments alive.
	copyForwardLag int64 = 100_000
	// fifoScanLimit bounds how many records one FIFO receive examines.
	fifoScanLimit = 100_000
	// maxInflight is AWS's limit of in-flight messages per queue
	// (OverLimit beyond it).
	maxInflight = 120_000
	// readAhead is how many bytes of the log a forward scan reads at once.
	readAhead int32 = 256 << 10
)

const (
	dedupWindow   = 5 * time.Minute
	attemptWindow = 5 * time.Minute
	purgeInterval = 60 * time.Second
	msgsDir       = "msgs"
)

// Queue is one SQS queue. Its methods are safe for concurrent use.
type Queue struct {
	m    *Manager
	name string
	dir  string
	fifo bool
	log  *logstore.Log

	attrMu sync.Mutex
	sendMu sync.Mutex

	mu         sync.Mutex
	closed     bool
	deleted    bool
	failed     error
	rec        metastore.QueueRecord
	cfgp       atomic.Pointer[queueConfig] // read without mu (other queues read it)
	st         deliveryState
	key        [32]byte
	mac        *handleMAC // receipt-handle MAC under key; used under mu
	gen        uint64
	j          *journal
	notify     chan struct{}
	lastPurge  time.Time
	body       []byte // journal record scratch
	rc         readCache
	lastTrimMs int64
	openHW     int64 // high watermark at open: copies below it that no journal record names are leftovers

	// FIFO
	dedup      map[string]dedupEntry
	dedupQ     []dedupKey // in insertion (time) order, for expiry
	attempts   map[string]*attempt
	fifoResume *fifoResume

	sent, received, deletedN, deadLettered, expiredN int64
}

type dedupEntry struct {
	id     string
	seq    string
	expire int64
}

type dedupKey struct {
	key    string
	expire int64
}

type attempt struct {
	expire int64
	leases [][2]int64 // offset, lease seq
}

// readCache holds the bytes of whole batches last read from the log.
type readCache struct {
	buf        []byte
	start, end int64 // offsets covered: [start, end)
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// IsFIFO reports whether the queue is a FIFO queue.
func (q *Queue) IsFIFO() bool { return q.fifo }

func (q *Queue) now() time.Time { return q.m.cfg.Now() }

func (q *Queue) config() *queueConfig { return q.cfgp.Load() }

func (q *Queue) setConfig(c queueConfig) { q.cfgp.Store(&c) }

func logConfig(m *Manager) logstore.Config {
	return logstore.Config{
		SegmentBytes:  segmentBytes,
		SegmentMs:     1 << 50, // segments roll by size; age is irrelevant to a queue
		RetentionMs:   -1,      // the queue trims its own log (DeleteRecordsBefore)
		MaxBatchBytes: 16 << 20,
		Flush:         logstore.FlushAlways,
		Logger:        m.cfg.Logger,
		Now:           m.cfg.Now,
	}
}

// createQueueFiles makes a new queue directory with an empty log, a first
// snapshot (holding the new handle key) and an empty journal.
func createQueueFiles(m *Manager, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	s := &snapshot{gen: 1}
	if _, err := rand.Read(s.key[:]); err != nil {
		return fmt.Errorf("%w: random key: %v", ErrStorage, err)
	}
	st := newDeliveryState(0)
	if err := writeFileAtomic(filepath.Join(dir, snapshotName), encodeSnapshot(s, &st)); err != nil {
		return err
	}
	j := &journal{path: filepath.Join(dir, journalName)}
	if err := j.startFile(1); err != nil {
		return err
	}
	return j.f.Close()
}

// openQueue opens the queue in dir and recovers its state.
func openQueue(m *Manager, rec metastore.QueueRecord, dir string) (*Queue, error) {
	q := &Queue{
		m: m, name: rec.Name, dir: dir, fifo: strings.HasSuffix(rec.Name, ".fifo"),
		rec:    rec,
		notify: make(chan struct{}), dedup: make(map[string]dedupEntry), attempts: make(map[string]*attempt),
	}
	q.setConfig(configFrom(rec.Name, rec.Attributes))
	for _, tmp := range []string{snapshotName + ".tmp", journalName + ".tmp"} {
		os.Remove(filepath.Join(dir, tmp))
	}
	lg, err := logstore.Open(filepath.Join(dir, msgsDir), logConfig(m))
	if err != nil {
		return nil, fmt.Errorf("%w: queue %s: %w", ErrStorage, rec.Name, err)
	}
	q.log = lg
	if err := q.recover(); err != nil {
		lg.Close()
		if q.j != nil {
			q.j.close()
		}
		return nil, fmt.Errorf("queue %s: %w", rec.Name, err)
	}
	return q, nil
}

// recover rebuilds the delivery state: snapshot, journal, then what only
// the log knows (delayed messages, the FIFO deduplication window).
func (q *Queue) recover() error {
	snap, err := readSnapshot(q.dir)
	if err != nil {
		return err
	}
	if snap == nil {
		// Create writes the first snapshot before the catalog names the
		// queue, so this is damage: keep the messages, start the delivery
		// state over (deleted messages may come back) with a new key.
		q.m.cfg.Logger.Warn("queue: snapshot missing; every message in the log becomes deliverable again", "queue", q.name)
		snap = &snapshot{}
		if _, err := rand.Read(snap.key[:]); err != nil {
			return fmt.Errorf("%w: random key: %v", ErrStorage, err)
		}
	}
	q.key, q.gen = snap.key, snap.gen
	q.mac = newHandleMAC(&q.key)
	hw := q.log.HighWatermark()
	st := newDeliveryState(min(snap.floor, hw))
	st.nextSeq = max(snap.nextSeq, 1)
	for _, r := range snap.runs {
		st.del.addRange(r[0], min(r[0]+r[1], hw)) // nothing at or past hw exists
	}
	for i := range snap.entries {
		st.restoreLease(&snap.entries[i])
	}
	logf := func(msg string, args ...any) { q.m.cfg.Logger.Warn(msg, append(args, "queue", q.name)...) }
	j, err := openJournal(q.dir, q.gen, func(r *journalRec) error { st.replay(r); return nil }, logf)
	if err != nil {
		return err
	}
	q.j = j
	q.openHW = hw
	st.raiseFloor(max(st.del.floor, q.log.StartOffset()))
	now := q.now().UnixMilli()
	for o, e := range st.tracked {
		if o >= hw {
			delete(st.tracked, o) // cannot happen: leases follow durable appends
			continue
		}
		e.state, e.heapIdx = 0, -1
		switch {
		case e.visibleAt > now:
			st.setInflight(e, e.visibleAt)
		case q.fifo:
			e.state = stVisible
		default:
			e.state = stReady
			heap.Push(&st.ready, o)
		}
	}
	st.cursor = st.del.floor
	q.st = st
	if err := q.recoverFromLog(now); err != nil {
		return err
	}
	// Fold the replayed journal into a fresh snapshot so the next open
	// starts from here.
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.checkpointLocked()
}

// restoreLease loads a snapshot entry or a replayed lease.
func (s *deliveryState) restoreLease(l *leaseRec) {
	if s.del.has(l.offset) {
		return
	}
	e := s.tracked[l.offset]
	if e == nil {
		e = &entry{offset: l.offset, heapIdx: -1}
		s.tracked[l.offset] = e
	}
	e.leaseSeq, e.visibleAt, e.leaseStart = l.leaseSeq, l.visibleAt, l.leaseStart
	e.firstRecv, e.sentMs, e.recvCount, e.group = l.firstRecv, l.sentMs, int32(l.recvCount), l.group
	if l.leaseSeq >= s.nextSeq {
		s.nextSeq = l.leaseSeq + 1
	}
}

// replay applies one journal record during recovery (no heaps yet).
func (s *deliveryState) replay(r *journalRec) {
	switch r.typ {
	case recLease:
		s.restoreLease(&r.lease)
	case recVisibility:
		if e := s.tracked[r.offset]; e != nil && e.leaseSeq == r.seq {
			e.visibleAt = r.visible
		}
	case recDelete:
		for _, o := range r.offsets {
			delete(s.tracked, o)
			s.del.add(o)
		}
	case recPurge:
		for o := range s.tracked {
			if o < r.offset {
				delete(s.tracked, o)
			}
		}
		s.del.raiseFloor(r.offset)
	case recCopy:
		delete(s.tracked, r.offset)
		s.del.add(r.offset)
		s.restoreLease(&r.lease)
	}
}

// recoverFromLog finds delayed messages and, for FIFO queues, rebuilds the
// deduplication window, from the recent end of the log.
func (q *Queue) recoverFromLog(now int64) error {
	st := &q.st
	// Delayed messages were sent at most maxDelaySeconds ago; a batch
	// holds one if its maxTimestamp (largest visible-at) is in the future.
	from := st.del.floor
	if off, _, err := q.log.OffsetForTimestamp(now - (maxDelaySeconds+60)*1000); err == nil && off > from {
		from = off
	} else if err == nil && off < 0 {
		from = q.log.HighWatermark() // nothing that recent
	}
	var delayedBatches [][2]int64
	err := q.log.ScanBatches(from, func(h *logstore.BatchHeader) bool {
		if h.MaxTimestamp > now {
			delayedBatches = append(delayedBatches, [2]int64{h.BaseOffset, h.BaseOffset + int64(h.LastOffsetDelta)})
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	for _, b := range delayedBatches {
		err := q.scanLog(max(b[0], st.del.floor), func(r *logRecord) bool {
			if r.offset > b[1] {
				return false
			}
			if r.ts > now && !st.del.has(r.offset) && st.tracked[r.offset] == nil {
				heap.Push(&st.delayed, delayItem{visibleAt: r.ts, offset: r.offset})
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	if !q.fifo {
		return nil
	}
	cutoff := now - dedupWindow.Milliseconds()
	off, _, err := q.log.OffsetForTimestamp(cutoff)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if off < 0 {
		return nil
	}
	off = max(off, q.log.StartOffset())
	var m storedMessage
	return q.scanLog(off, func(r *logRecord) bool {
		if decodeValue(r.value, r.ts, false, &m) == nil && m.sentMs >= cutoff && m.dedup != "" {
			q.rememberDedupLocked(m.group, m.dedup, messageIDString(m.id), q.seqOf(r.offset, &m), m.sentMs+dedupWindow.Milliseconds())
		}
		return true
	})
}

func (q *Queue) seqOf(offset int64, m *storedMessage) string {
	if m.seq != "" {
		return m.seq
	}
	return sequenceNumber(offset)
}

// scanLog calls fn for every record from offset on, up to the high
// watermark, until fn returns false. Callers hold q.mu (or own q
// exclusively during recovery).
func (q *Queue) scanLog(from int64, fn func(r *logRecord) bool) error {
	hw := q.log.HighWatermark()
	for from < hw {
		if err := q.fillCache(from); err != nil {
			return err
		}
		stop := false
		next := from
		err := forEachRecord(q.rc.buf, from, func(r *logRecord) bool {
			next = r.offset + 1
			if !fn(r) {
				stop = true
				return false
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("%w: queue %s: %v", ErrStorage, q.name, err)
		}
		if stop {
			return nil
		}
		from = max(next, q.rc.end)
	}
	return nil
}

// fillCache makes the read cache cover offset.
func (q *Queue) fillCache(offset int64) error {
	if offset >= q.rc.start && offset < q.rc.end {
		return nil
	}
	if offset < q.log.StartOffset() {
		offset = q.log.StartOffset()
	}
	ch, err := q.log.Read(offset, readAhead)
	if err != nil {
		return fmt.Errorf("%w: queue %s: %v", ErrStorage, q.name, err)
	}
	defer ch.Release()
	if cap(q.rc.buf) > 4<<20 {
		q.rc.buf = nil // do not keep the buffer of a huge batch around
	}
	buf, err := ch.AppendTo(q.rc.buf[:0])
	if err != nil {
		return fmt.Errorf("%w: queue %s: %v", ErrStorage, q.name, err)
	}
	q.rc.buf = buf
	q.rc.start, q.rc.end = -1, -1
	if len(buf) >= batchHeaderLen {
		start, end, ok := batchRange(buf)
		if ok {
			q.rc.start, q.rc.end = start, end
		}
	}
	if q.rc.start < 0 {
		return fmt.Errorf("%w: queue %s: empty read at offset %d", ErrStorage, q.name, offset)
	}
	return nil
}

// readMessage reads and fully decodes the message at offset.
func (q *Queue) readMessage(offset int64, m *storedMessage) error {
	if err := q.fillCache(offset); err != nil {
		return err
	}
	found := false
	var derr error
	err := forEachRecord(q.rc.buf, offset, func(r *logRecord) bool {
		if r.offset == offset {
			found = true
			derr = decodeValue(r.value, r.ts, true, m)
		}
		return false
	})
	if err == nil {
		err = derr
	}
	if err == nil && !found {
		err = errBadRecord
	}
	if err != nil {
		return fmt.Errorf("%w: queue %s offset %d: %v", ErrStorage, q.name, offset, err)
	}
	return nil
}

// close checkpoints and closes the queue's files. Waiters are woken.
func (q *Queue) close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.notify)
	var err error
	if q.failed == nil && !q.deleted {
		err = q.checkpointLocked()
	}
	q.mu.Unlock()
	if jerr := q.j.close(); err == nil && !errors.Is(jerr, ErrClosed) {
		err = jerr
	}
	if lerr := q.log.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("%w: %v", ErrStorage, lerr)
	}
	return err
}

// checkpointLocked writes a snapshot of the whole state and starts a new
// journal generation.
func (q *Queue) checkpointLocked() error {
	gen := q.gen + 1
	snap := &snapshot{gen: gen, key: q.key}
	if err := writeFileAtomic(filepath.Join(q.dir, snapshotName), encodeSnapshot(snap, &q.st)); err != nil {
		return q.failLocked(err)
	}
	q.gen = gen
	if err := q.j.rotate(gen); err != nil {
		return q.failLocked(err)
	}
	return nil
}

// failLocked puts the queue into the failed state: its state on disk may
// lag what memory holds, so it refuses further changes until reopened.
func (q *Queue) failLocked(err error) error {
	if q.failed == nil {
		q.failed = fmt.Errorf("%w: queue %s failed: %w", ErrStorage, q.name, err)
		q.m.cfg.Logger.Error("queue: storage failure; the queue refuses changes until the broker restarts", "queue", q.name, "err", err)
	}
	return q.failed
}

// usableLocked returns the error an operation gets on a closed, deleted or
// failed queue.
func (q *Queue) usableLocked() error {
	switch {
	case q.deleted:
		return errorf(CodeQueueDoesNotExist, "The specified queue does not exist.")
	case q.closed:
		return ErrClosed
	case q.failed != nil:
		return q.failed
	}
	return nil
}

// wakeLocked wakes long polls.
func (q *Queue) wakeLocked() {
	if q.closed {
		return
	}
	close(q.notify)
	q.notify = make(chan struct{})
}

// waitJournal waits until the journal holds everything up to pos. A
// journal that cannot be written fails the queue: memory has changes the
// disk lacks.
func (q *Queue) waitJournal(pos int64) error {
	err := q.j.wait(pos)
	if err != nil && !errors.Is(err, ErrClosed) {
		q.mu.Lock()
		err = q.failLocked(err)
		q.mu.Unlock()
	}
	return err
}

// journalLocked appends a record body to the journal and returns the
// position to wait for.
func (q *Queue) journalLocked(body []byte) int64 {
	q.body = body[:0]
	return q.j.add(body)
}
