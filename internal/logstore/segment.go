package logstore

// On-disk format of a log (one directory per partition):
//
//	00000000000000000000.log        segment: record batches
//	00000000000000000000.index      sparse offset index (index.go)
//	00000000000000000000.timeindex  time index (index.go)
//	00000000000000012345.log        next segment, base offset 12345
//	…
//	log-start-offset.checkpoint     log start offset (retention.go)
//
// A segment is named after its base offset, the offset of its first batch,
// as a 20-digit zero-padded decimal, as Kafka names its segments. The .log
// file is nothing but Kafka v2 record batches (batch.go) laid end to end,
// exactly as producers sent them except for the base offset, which the log
// assigns; so the file has no header of its own, each batch carrying its
// magic byte (2) as the format version, and the file is byte-compatible
// with a Kafka segment. Integers are big-endian. The batch CRC-32C
// (Castagnoli) covers attributes to the end of the batch; it does not cover
// baseOffset, batchLength, partitionLeaderEpoch or magic, which Open checks
// separately (base offsets must run on without gaps, lengths must fit the
// file, magic must be 2).
//
// Offsets within a segment are contiguous: batch k+1's base offset is batch
// k's base offset + lastOffsetDelta + 1, and each segment's base offset is
// the end offset of the segment before it. A segment holds at most 2^32
// offsets and 2 GiB, so that relative offsets and positions fit the uint32
// fields of the offset index.
//
// Durability: a segment is fsynced (fdatasync) before the next one is
// created, and the directory is fsynced after a segment file is created,
// so that every segment but the last is always complete on disk. Only the
// last segment can have a torn tail, which Open cuts (recovery.go).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	// maxSegmentOffsets keeps relative offsets within uint32.
	maxSegmentOffsets = 1<<32 - 1
)

func segmentName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseSegmentName returns the base offset of a file named like a segment
// file with the given suffix.
func parseSegmentName(name, suffix string) (int64, bool) {
	if len(name) != 20+len(suffix) || name[20:] != suffix {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	return base, err == nil
}

// segment is one .log file and its two indexes. The files stay open as
// long as the log or any Chunk holds a reference, so retention can delete
// a segment that a reader is still sending from.
type segment struct {
	base int64
	path string // .log path
	f    *os.File
	off  *indexFile
	tim  *indexFile
	refs atomic.Int32

	// Guarded by Log.mu.
	size       int64 // bytes of whole batches
	committed  int64 // bytes readers may see (<= size)
	end        int64 // offset after the last batch; base when empty
	maxTs      int64 // largest batch maxTimestamp, -1 when none
	maxTsOff   int64 // offset of the first record with maxTs
	cMaxTs     int64 // maxTs and maxTsOff over the committed bytes only
	cMaxTsOff  int64
	pendMax    []tsMark // maxima written above committed, oldest first
	rollTs     int64    // segment.ms counts from here (ms)
	rollByRec  bool     // rollTs is a record timestamp, not a wall-clock time
	sinceEntry int64    // log bytes since the last index entry
	sealed     bool
}

// tsMark is a new largest timestamp at offset off, in a batch ending at
// byte end.
type tsMark struct{ ts, off, end int64 }

func newSegmentState(base int64) *segment {
	s := &segment{base: base, end: base, maxTs: -1, maxTsOff: -1, cMaxTs: -1, cMaxTsOff: -1}
	s.refs.Store(1)
	return s
}

// acquire takes a reference; the caller must hold one already (the log's,
// under Log.mu) so the count cannot be zero here.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the files with the last one.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

func (s *segment) closeFiles() {
	if s.f != nil {
		_ = s.f.Close()
	}
	if s.off != nil && s.off.f != nil {
		_ = s.off.f.Close()
	}
	if s.tim != nil && s.tim.f != nil {
		_ = s.tim.f.Close()
	}
}

// removeFiles unlinks the segment's files (open handles stay valid).
func (s *segment) removeFiles(dir string) error {
	var errs []error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Remove(segmentName(dir, s.base, suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// account updates the segment's statistics for a batch of n bytes written
// at pos with base offset base. It reports whether an index entry for this
// batch is due and the time index timestamp to give it. Append and Open
// share it, so that Open rebuilds exactly the index the appends wrote.
func (s *segment) account(pos, n int64, h *BatchHeader, base int64, maxTsDelta int32, interval int32, nowMs int64) (entry bool, entryTs int64) {
	if pos > 0 && s.sinceEntry >= int64(interval) {
		entry, entryTs = true, s.maxTs
		s.sinceEntry = 0
	}
	s.sinceEntry += n
	s.size = pos + n
	s.end = base + int64(h.LastOffsetDelta) + 1
	if h.MaxTimestamp > s.maxTs {
		s.maxTs = h.MaxTimestamp
		s.maxTsOff = base + int64(maxTsDelta)
		s.pendMax = append(s.pendMax, tsMark{s.maxTs, s.maxTsOff, pos + n})
	}
	if pos == 0 {
		// Like Kafka: segment.ms is measured in record time from the
		// first batch's timestamp (so replayed old data does not roll on
		// every batch), or in wall-clock time from the first append when
		// the producer sent no timestamp.
		s.rollTs, s.rollByRec = h.MaxTimestamp, true
		if h.MaxTimestamp < 0 {
			s.rollTs, s.rollByRec = nowMs, false
		}
	}
	return entry, entryTs
}

// commit makes the first pos bytes visible to readers. Log.mu is held.
func (s *segment) commit(pos int64) {
	s.committed = pos
	i := 0
	for ; i < len(s.pendMax) && s.pendMax[i].end <= pos; i++ {
		s.cMaxTs, s.cMaxTsOff = s.pendMax[i].ts, s.pendMax[i].off
	}
	if i > 0 {
		s.pendMax = s.pendMax[:copy(s.pendMax, s.pendMax[i:])]
	}
}

// appendLocked writes batch (already validated, base offset rewritten) at
// the end of the segment and indexes it. Log.mu is held.
func (s *segment) appendLocked(batch []byte, h *BatchHeader, base int64, maxTsDelta int32, interval int32, nowMs int64) error {
	pos := s.size
	if _, err := s.f.WriteAt(batch, pos); err != nil {
		return fmt.Errorf("logstore: write %s: %w", s.path, err)
	}
	entry, ts := s.account(pos, int64(len(batch)), h, base, maxTsDelta, interval, nowMs)
	if entry {
		var e [timeEntrySize]byte
		rel := uint32(base - s.base)
		if err := s.off.add(putOffsetEntry(e[:0], rel, uint32(pos))); err != nil {
			return err
		}
		if err := s.tim.add(putTimeEntry(e[:0], ts, rel)); err != nil {
			return err
		}
	}
	return nil
}

// batchInfo is the part of a batch header that reads walk over.
type batchInfo struct {
	base   int64
	last   int64
	size   int64 // whole batch, bytes
	maxTs  int64
	firstT int64
	attrs  int16
}

const batchInfoSize = 43 // bytes of the header readBatchInfo needs

// readBatchInfo reads the header of the batch at pos, which the caller
// knows lies below the segment's committed size.
func readBatchInfo(f *os.File, pos int64, buf *[batchHeaderSize]byte) (batchInfo, error) {
	b := buf[:batchInfoSize]
	if _, err := f.ReadAt(b, pos); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return batchInfo{}, fmt.Errorf("logstore: read %s at %d: %w", f.Name(), pos, err)
	}
	bi := batchInfo{
		base:   int64(binary.BigEndian.Uint64(b[0:])),
		size:   int64(int32(binary.BigEndian.Uint32(b[8:]))) + 12,
		attrs:  int16(binary.BigEndian.Uint16(b[21:])),
		firstT: int64(binary.BigEndian.Uint64(b[27:])),
		maxTs:  int64(binary.BigEndian.Uint64(b[35:])),
	}
	bi.last = bi.base + int64(int32(binary.BigEndian.Uint32(b[23:])))
	if bi.size < batchHeaderSize {
		return bi, fmt.Errorf("logstore: %s at %d: %w", f.Name(), pos, &BatchError{Reason: "batch length smaller than the header"})
	}
	return bi, nil
}

// findBatch walks batch headers from pos (a batch boundary at or before
// the batch holding offset) to the batch that holds offset, not looking
// at or past limit. It returns that batch's position and header.
func findBatch(f *os.File, pos, limit, offset int64, buf *[batchHeaderSize]byte) (int64, batchInfo, error) {
	for pos < limit {
		bi, err := readBatchInfo(f, pos, buf)
		if err != nil {
			return 0, bi, err
		}
		if bi.last >= offset {
			return pos, bi, nil
		}
		pos += bi.size
	}
	return 0, batchInfo{}, fmt.Errorf("logstore: %s: offset %d not found below byte %d", f.Name(), offset, limit)
}
