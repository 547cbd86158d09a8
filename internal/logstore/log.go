package logstore

// Concurrency. Log.mu guards the segment list, every segment's mutable
// fields (segment.go), the offsets and the flush state. Appenders hold it
// while they write (a pwrite of one batch, which is short) and release it
// while an fsync runs, so that writes keep landing while the disk syncs.
// Readers take it shared only to locate a batch; they read file bytes
// with pread outside it, holding a segment reference instead.
//
// Lock order: Log.cfgMu, then Log.mu. Goroutines: the interval flusher
// (FlushInterval only) is started by Open/SetConfig and stopped by
// SetConfig/Close, under cfgMu.
//
// Group commit: after writing, an appender under FlushAlways waits until
// the durable offset (synced) passes its batch. If no fsync is running, it
// becomes the syncer itself: it notes the end of the data written so far,
// releases the lock, fdatasyncs, retakes the lock, publishes the new
// durable offset and wakes every waiter. Waiters whose batches that fsync
// did not cover elect the next syncer among themselves. So a lone appender
// pays one fsync per batch with no hand-off to another goroutine, and many
// appenders share each fsync: whatever was written while one fsync ran is
// covered by the next.

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Log is the log of one partition: a directory of segments. All methods
// are safe for concurrent use.
type Log struct {
	dir string

	cfgMu     sync.Mutex
	flushStop chan struct{} // closed to stop the interval flusher
	flushDone chan struct{} // closed when it has stopped

	mu       sync.RWMutex
	cond     *sync.Cond // on mu, for appenders waiting on an fsync
	cfg      Config
	segs     []*segment // by base offset; the last is active
	start    int64      // log start offset
	synced   int64      // data below this offset is fsynced
	hw       int64      // high watermark
	size     int64      // bytes in all segments
	syncing  bool       // an fsync is running without mu
	failed   error      // set after a write or fsync error
	closed   bool
	changed  chan struct{} // closed when hw next advances
	checkHdr BatchHeader   // passed to AppendOptions.Check
	fsyncs   int64         // group-commit fsyncs run, for tests and benchmarks

	changedTaken atomic.Bool // someone holds changed; replace it on advance
	maxBatch     atomic.Int32
}

// Open opens the log in dir, creating dir if missing, and recovers it:
// every segment is checked batch by batch (length, magic, CRC-32C, offset
// continuity), a torn or corrupt tail of the last segment is cut and
// reported through Config.Logger, damaged or missing indexes are rebuilt.
// Damage anywhere else fails Open with a *SegmentError naming the file.
func Open(dir string, cfg Config) (*Log, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	l := &Log{dir: dir, cfg: cfg, changed: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	l.maxBatch.Store(cfg.MaxBatchBytes)
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.release()
		}
		return nil, err
	}
	l.startFlusher()
	return l, nil
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// Append validates batch, assigns its offsets, writes it and returns when
// the flush policy allows (FlushAlways: after the fsync that covers it).
// The base offset is rewritten in batch itself. LogAppendTime in the
// result is -1: the log keeps producer timestamps (CreateTime), and -1 is
// what Kafka answers for them.
func (l *Log) Append(batch []byte, opts AppendOptions) (AppendResult, error) {
	if limit := l.maxBatch.Load(); len(batch) > int(limit) {
		return AppendResult{}, fmt.Errorf("%w: %d bytes, max.message.bytes is %d", ErrBatchTooLarge, len(batch), limit)
	}
	h, maxTsDelta, err := validateBatch(batch)
	if err != nil {
		return AppendResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendResult{}, ErrClosed
	}
	if l.failed != nil {
		return AppendResult{}, l.failed
	}
	seg := l.active()
	base := seg.end
	if opts.Check != nil {
		// Check gets a header owned by the log (under mu), so the one
		// here stays on the stack.
		l.checkHdr = h
		if err := opts.Check(&l.checkHdr, base); err != nil {
			return AppendResult{}, err
		}
	}
	nowMs := l.cfg.Now().UnixMilli()
	if l.shouldRollLocked(seg, int64(len(batch)), base+int64(h.LastOffsetDelta), nowMs, h.MaxTimestamp) {
		if err := l.rollLocked(); err != nil {
			return AppendResult{}, l.failLocked(err)
		}
		seg = l.active()
	}
	binary.BigEndian.PutUint64(batch, uint64(base))
	h.BaseOffset = base
	if err := seg.appendLocked(batch, &h, base, maxTsDelta, l.cfg.IndexIntervalBytes, nowMs); err != nil {
		return AppendResult{}, l.failLocked(err)
	}
	l.size += int64(len(batch))
	res := AppendResult{
		BaseOffset:     base,
		LastOffset:     base + int64(h.LastOffsetDelta),
		LogAppendTime:  -1,
		LogStartOffset: l.start,
	}
	if l.cfg.Flush == FlushAlways {
		if err := l.waitDurableLocked(res.LastOffset + 1); err != nil {
			return AppendResult{}, err
		}
		return res, nil
	}
	seg.commit(seg.size)
	l.advanceHWLocked(seg.end)
	return res, nil
}

func (l *Log) shouldRollLocked(s *segment, n, last, nowMs, batchTs int64) bool {
	if s.size == 0 {
		return false // a batch larger than segment.bytes gets a segment of its own
	}
	age := nowMs - s.rollTs
	if s.rollByRec {
		age = batchTs - s.rollTs
	}
	return s.size+n > l.cfg.SegmentBytes ||
		s.size+n > maxSegmentBytes ||
		last-s.base > maxSegmentOffsets ||
		age >= l.cfg.SegmentMs
}

// rollLocked seals the active segment (indexes written, data fsynced) and
// starts a new one at its end offset. The new file's directory entry is
// fsynced before anything is appended to it.
func (l *Log) rollLocked() error {
	old := l.active()
	if err := old.off.seal(old.size); err != nil {
		return err
	}
	if err := old.tim.seal(old.size); err != nil {
		return err
	}
	if err := fdatasync(old.f); err != nil {
		return fmt.Errorf("logstore: fsync %s: %w", old.path, err)
	}
	old.sealed = true
	old.commit(old.size)
	if old.end > l.synced {
		l.synced = old.end
	}
	if l.cfg.Flush == FlushAlways {
		l.advanceHWLocked(l.synced)
		l.cond.Broadcast()
	}
	seg, err := createSegment(l.dir, old.end)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, seg)
	return nil
}

// createSegment creates the files of an empty segment and fsyncs the
// directory so that they survive a crash.
func createSegment(dir string, base int64) (*segment, error) {
	s := newSegmentState(base)
	s.path = segmentName(dir, base, logSuffix)
	var err error
	if s.f, err = os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	if s.off, s.tim, err = createIndexes(dir, base, nil); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// createIndexes (re)writes both index files of the active segment in the
// active form with the entries of b (nil for none), ready for appends.
func createIndexes(dir string, base int64, b *indexBuilder) (*indexFile, *indexFile, error) {
	var offEntries, timEntries []byte
	n := 0
	if b != nil {
		offEntries, timEntries, n = b.off, b.tim, b.n
	}
	off, err := writeActiveIndex(segmentName(dir, base, indexSuffix), offsetIndexMagic, offsetEntrySize, base, offEntries, n)
	if err != nil {
		return nil, nil, err
	}
	tim, err := writeActiveIndex(segmentName(dir, base, timeIndexSuffix), timeIndexMagic, timeEntrySize, base, timEntries, n)
	if err != nil {
		_ = off.f.Close()
		return nil, nil, err
	}
	return off, tim, nil
}

func writeActiveIndex(path string, magic [4]byte, esize int, base int64, entries []byte, n int) (*indexFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	if _, err := f.WriteAt(fileBytes(magic, esize, base, entries, 0, false), 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("logstore: write %s: %w", path, err)
	}
	x := newIndexFile(f, magic, esize, base)
	x.n, x.flushed = n, n
	x.crc = crc32Castagnoli(entries)
	// Keep the last block in memory for tail lookups.
	if keep := min(n, indexBlockEntries); keep > 0 {
		x.prev = append(x.prev, entries[(n-keep)*esize:]...)
		x.prevFirst = n - keep
	}
	return x, nil
}

// waitDurableLocked returns once data below target is fsynced, running
// the fsync itself when no other goroutine is (see the top of this file).
func (l *Log) waitDurableLocked(target int64) error {
	for l.synced < target {
		if l.failed != nil {
			return l.failed
		}
		if l.syncing || l.closed {
			// Close fsyncs everything before it finishes, then wakes us.
			l.cond.Wait()
			continue
		}
		l.syncing = true
		l.fsyncs++
		seg := l.active()
		seg.acquire()
		goal, pos := seg.end, seg.size
		l.mu.Unlock()
		err := fdatasync(seg.f)
		l.mu.Lock()
		seg.release()
		l.syncing = false
		if err != nil {
			l.failLocked(fmt.Errorf("logstore: fsync %s: %w", seg.path, err))
		} else if goal > l.synced {
			l.synced = goal
			if l.cfg.Flush == FlushAlways && !seg.sealed {
				seg.commit(pos)
				l.advanceHWLocked(goal)
			}
		}
		l.cond.Broadcast()
	}
	return nil
}

// failLocked puts the log in the failed state (the first error sticks)
// and returns the error appenders get from now on.
func (l *Log) failLocked(err error) error {
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %w", ErrLogFailed, err)
		l.cfg.Logger.Error("logstore: log failed, refusing appends until reopened", "dir", l.dir, "err", err)
		l.cond.Broadcast()
	}
	return l.failed
}

// advanceHWLocked moves the high watermark forward and wakes Changed
// waiters. The channel is replaced only if someone took it, so appends
// allocate nothing when nobody long-polls.
func (l *Log) advanceHWLocked(hw int64) {
	if hw <= l.hw {
		return
	}
	l.hw = hw
	if l.changedTaken.Swap(false) {
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// Changed returns a channel closed the next time the high watermark
// advances, or when the log closes.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.changedTaken.Store(true)
	return l.changed
}

// StartOffset is the log start offset: the first offset readers may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// EndOffset is the log end offset: the next offset Append assigns.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return l.hw
	}
	return l.active().end
}

// HighWatermark is the end of what readers may see: under FlushAlways the
// end of the fsynced data, otherwise EndOffset.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// Size is the number of bytes in the log's segment files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Config returns the log's configuration, defaults filled in.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig applies new settings (zero fields take defaults, except that
// a nil Logger or Now keeps the log's current one). Segment
// and index settings apply from the next append; a flush policy change
// applies at once (switching to FlushAlways first fsyncs what is written,
// so the high watermark never moves back).
func (l *Log) SetConfig(cfg Config) error {
	l.cfgMu.Lock()
	defer l.cfgMu.Unlock()
	l.mu.RLock()
	if cfg.Logger == nil {
		cfg.Logger = l.cfg.Logger
	}
	if cfg.Now == nil {
		cfg.Now = l.cfg.Now
	}
	l.mu.RUnlock()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.stopFlusherLocked()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var err error
	if cfg.Flush == FlushAlways && l.cfg.Flush != FlushAlways && l.failed == nil {
		err = l.waitDurableLocked(l.active().end)
	}
	l.cfg = cfg
	l.maxBatch.Store(cfg.MaxBatchBytes)
	if cfg.Flush != FlushAlways {
		seg := l.active()
		seg.commit(seg.size)
		l.advanceHWLocked(seg.end)
	}
	l.mu.Unlock()
	l.startFlusherCfgLocked()
	return err
}

func (l *Log) startFlusher() {
	l.cfgMu.Lock()
	defer l.cfgMu.Unlock()
	l.startFlusherCfgLocked()
}

// startFlusherCfgLocked starts the FlushInterval goroutine if the policy
// asks for it. cfgMu is held.
func (l *Log) startFlusherCfgLocked() {
	l.mu.RLock()
	cfg, closed := l.cfg, l.closed
	l.mu.RUnlock()
	if closed || cfg.Flush != FlushInterval {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	l.flushStop, l.flushDone = stop, done
	go l.flushLoop(cfg.FlushInterval, stop, done)
}

// stopFlusherLocked stops the interval flusher, if any. cfgMu is held.
func (l *Log) stopFlusherLocked() {
	if l.flushStop != nil {
		close(l.flushStop)
		<-l.flushDone
		l.flushStop, l.flushDone = nil, nil
	}
}

func (l *Log) flushLoop(every time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.mu.Lock()
			if !l.closed && l.failed == nil {
				_ = l.waitDurableLocked(l.active().end)
			}
			l.mu.Unlock()
		}
	}
}

// Sync fsyncs everything appended so far.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	return l.waitDurableLocked(l.active().end)
}

// Close fsyncs and closes the log. Appends still waiting for an fsync are
// covered by Close's. Chunks not yet released keep their files open.
func (l *Log) Close() error {
	l.cfgMu.Lock()
	defer l.cfgMu.Unlock()
	l.stopFlusherLocked()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.syncing {
		l.cond.Wait()
	}
	var err error
	seg := l.active()
	if l.failed == nil {
		if err = seg.off.seal(seg.size); err == nil {
			err = seg.tim.seal(seg.size)
		}
		if err == nil {
			if err = fdatasync(seg.f); err != nil {
				err = fmt.Errorf("logstore: fsync %s: %w", seg.path, err)
			}
		}
		if err != nil {
			l.failLocked(err)
		} else {
			l.synced = seg.end
			seg.commit(seg.size)
			l.advanceHWLocked(seg.end)
		}
	}
	close(l.changed)
	l.cond.Broadcast()
	segs := l.segs
	l.segs = nil
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	return err
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	// A failed final fsync does not matter for files about to go.
	_ = l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	return nil
}
