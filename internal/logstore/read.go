package logstore

import (
	"fmt"
	"sort"
	"sync"
)

// segmentForLocked returns the segment holding offset (the last one whose
// base offset is <= offset). Log.mu is held.
func (l *Log) segmentForLocked(offset int64) (int, *segment) {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	return i, l.segs[i]
}

// Read returns whole batches from the batch holding offset, up to
// maxBytes but at least one batch, all from one segment and none beyond
// the high watermark. At the high watermark it returns an empty Chunk;
// outside [StartOffset, HighWatermark] an *OffsetOutOfRangeError. The
// first batch may start before offset. Release the Chunk when done.
func (l *Log) Read(offset int64, maxBytes int32) (Chunk, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Chunk{}, ErrClosed
	}
	if offset < l.start || offset > l.hw {
		err := &OffsetOutOfRangeError{Offset: offset, Start: l.start, End: l.hw}
		l.mu.RUnlock()
		return Chunk{}, err
	}
	if offset == l.hw {
		l.mu.RUnlock()
		return Chunk{}, nil
	}
	_, seg := l.segmentForLocked(offset)
	limit := seg.committed
	var buf [batchHeaderSize]byte
	pos, err := seg.off.lookupOffset(offset)
	var bi batchInfo
	if err == nil {
		pos, bi, err = findBatch(seg.f, pos, limit, offset, &buf)
	}
	end := pos + bi.size
	want := min(pos+int64(max(maxBytes, 0)), limit)
	if err == nil && end < want {
		// Jump close to the byte limit through the index, then walk.
		var p int64
		if p, err = seg.off.lookupPosition(want); err == nil {
			p = max(p, end)
			for p < want {
				var nb batchInfo
				if nb, err = readBatchInfo(seg.f, p, &buf); err != nil || p+nb.size > want {
					break
				}
				p += nb.size
			}
			end = p
		}
	}
	if err != nil {
		l.mu.RUnlock()
		return Chunk{}, err
	}
	seg.acquire()
	l.mu.RUnlock()
	return Chunk{File: seg.f, Pos: pos, Size: end - pos, seg: seg}, nil
}

var batchBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// scanSpan is a segment and the range of it a scan may read, held by a
// reference so retention cannot close it meanwhile.
type scanSpan struct {
	seg   *segment
	pos   int64 // a batch boundary to start from
	limit int64 // committed bytes
	start int64 // log start offset
}

// nextSpan picks the first segment with base offset > after (or the one
// holding from, when after < 0) that pick accepts, positioned by locate.
func (l *Log) nextSpan(after int64, from int64, pick func(s *segment) bool, locate func(s *segment) (int64, error)) (scanSpan, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return scanSpan{}, false, ErrClosed
	}
	i := 0
	if after < 0 {
		i, _ = l.segmentForLocked(from)
	} else {
		i = sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > after })
	}
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if s.committed == 0 || !pick(s) {
			continue
		}
		pos, err := locate(s)
		if err != nil {
			return scanSpan{}, false, err
		}
		s.acquire()
		return scanSpan{seg: s, pos: pos, limit: s.committed, start: l.start}, true, nil
	}
	return scanSpan{}, false, nil
}

// OffsetForTimestamp returns the earliest offset (at or after the log
// start offset, below the high watermark) whose record timestamp is >= ts,
// with that timestamp, or -1, -1. Uncompressed batches are searched record
// by record. Compressed batches are not decompressed: when a compressed
// batch's first record is older than ts but its MaxTimestamp is not, the
// answer is that batch's base offset (or the start offset) with the
// batch's MaxTimestamp, so a consumer seeking by time may see a few older
// records of that batch, never miss newer ones.
func (l *Log) OffsetForTimestamp(ts int64) (int64, int64, error) {
	pick := func(s *segment) bool { return s.maxTs >= ts }
	locate := func(s *segment) (int64, error) {
		i, err := s.tim.lookupTime(ts)
		if err != nil || i < 0 {
			return 0, err
		}
		off, err := s.tim.timeEntryOffset(i)
		if err != nil {
			return 0, err
		}
		return s.off.lookupOffset(off)
	}
	bp := batchBufPool.Get().(*[]byte)
	defer batchBufPool.Put(bp)
	var buf [batchHeaderSize]byte
	after := int64(-1)
	for {
		sp, ok, err := l.nextSpan(after, 0, pick, locate)
		if err != nil || !ok {
			return -1, -1, err
		}
		off, t, err := sp.findTimestamp(ts, bp, &buf)
		sp.seg.release()
		if err != nil || off >= 0 {
			return off, t, err
		}
		after = sp.seg.base
	}
}

// findTimestamp scans the span for the first record at or after the start
// offset with timestamp >= ts.
func (sp *scanSpan) findTimestamp(ts int64, bp *[]byte, buf *[batchHeaderSize]byte) (int64, int64, error) {
	f := sp.seg.f
	for p := sp.pos; p < sp.limit; {
		bi, err := readBatchInfo(f, p, buf)
		if err != nil {
			return -1, -1, err
		}
		if bi.last >= sp.start && bi.maxTs >= ts {
			if bi.attrs&attrCodecMask != 0 {
				if bi.firstT >= ts && bi.base >= sp.start {
					return bi.base, bi.firstT, nil
				}
				return max(bi.base, sp.start), bi.maxTs, nil
			}
			if cap(*bp) < int(bi.size) {
				*bp = make([]byte, 0, bi.size)
			}
			b := (*bp)[:bi.size]
			if _, err := f.ReadAt(b, p); err != nil {
				return -1, -1, fmt.Errorf("logstore: read %s at %d: %w", f.Name(), p, err)
			}
			h, err := ParseBatchHeader(b)
			if err != nil {
				return -1, -1, err
			}
			foundOff, foundTs := int64(-1), int64(-1)
			recordTimestamps(b, &h, func(delta int32, t int64) bool {
				if o := bi.base + int64(delta); o >= sp.start && t >= ts {
					foundOff, foundTs = o, t
					return false
				}
				return true
			})
			if foundOff >= 0 {
				return foundOff, foundTs, nil
			}
		}
		p += bi.size
	}
	return -1, -1, nil
}

// MaxTimestamp returns the offset and timestamp of the first record with
// the largest timestamp below the high watermark (ListOffsets -3), or
// -1, -1 when there is none. Like Kafka, it may name a record below the
// log start offset while that record's segment still exists.
func (l *Log) MaxTimestamp() (int64, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	off, ts := int64(-1), int64(-1)
	for _, s := range l.segs {
		if s.cMaxTsOff >= 0 && (off < 0 || s.cMaxTs > ts) {
			off, ts = s.cMaxTsOff, s.cMaxTs
		}
	}
	return off, ts
}

// ScanBatches calls fn with the header of every batch from the one
// holding from (or the first batch at or after the log start offset) up
// to the high watermark, until fn returns false. fn runs without any lock
// held; the header is reused between calls.
func (l *Log) ScanBatches(from int64, fn func(h *BatchHeader) bool) error {
	var buf [batchHeaderSize]byte
	h := new(BatchHeader)
	first := true
	after := int64(-1)
	for {
		var want int64
		locate := func(s *segment) (int64, error) {
			if !first {
				return 0, nil
			}
			pos, err := s.off.lookupOffset(max(from, l.start))
			if err != nil {
				return 0, err
			}
			want = max(from, l.start)
			return pos, nil
		}
		sp, ok, err := l.nextSpan(after, max(from, 0), func(*segment) bool { return true }, locate)
		if err != nil || !ok {
			return err
		}
		cont, err := sp.scanHeaders(want, fn, h, &buf)
		sp.seg.release()
		if err != nil || !cont {
			return err
		}
		first = false
		after = sp.seg.base
	}
}

func (sp *scanSpan) scanHeaders(from int64, fn func(h *BatchHeader) bool, hp *BatchHeader, buf *[batchHeaderSize]byte) (bool, error) {
	f := sp.seg.f
	for p := sp.pos; p < sp.limit; {
		if _, err := f.ReadAt(buf[:], p); err != nil {
			return false, fmt.Errorf("logstore: read %s at %d: %w", f.Name(), p, err)
		}
		h, err := ParseBatchHeader(buf[:])
		if err != nil {
			return false, fmt.Errorf("logstore: %s at %d: %w", f.Name(), p, err)
		}
		*hp = h
		if h.BaseOffset+int64(h.LastOffsetDelta) >= from && !fn(hp) {
			return false, nil
		}
		p += int64(h.BatchLength) + 12
	}
	return true, nil
}
