package logstore

// Recovery (Open). Every segment is read once, batch by batch: the length
// must fit the file, magic must be 2, the CRC-32C must match, the records
// of uncompressed batches must be well framed, and base offsets must run
// on from the segment's base offset without gaps. The scan also rebuilds
// the index entries the appends wrote (segment.account), which are then
// compared with the index files; a missing or different index is
// rewritten.
//
// Damage in the last segment is a torn tail (a crash during an append):
// the segment is cut at the last whole batch and the cut is logged with
// the file, position and reason. Under FlushAlways no acknowledged batch
// is in such a tail, because an append returns only after an fsync that
// covered it. Damage in any other segment cannot come from a crash (a
// segment is fsynced before the next one is created), so Open fails with
// a *SegmentError naming the file rather than drop data behind it.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strings"
)

const scanBufSize = 1 << 20

// recover loads the segments of l.dir into l. On error, segments already
// opened are in l.segs for the caller to release.
func (l *Log) recover() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	var bases []int64
	logs := map[int64]bool{}
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name(), logSuffix); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			logs[base] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		orphan := false
		if strings.HasSuffix(name, ".tmp") {
			orphan = true // an interrupted atomic replace
		} else if base, ok := parseSegmentName(name, indexSuffix); ok && !logs[base] {
			orphan = true
		} else if base, ok := parseSegmentName(name, timeIndexSuffix); ok && !logs[base] {
			orphan = true
		}
		if orphan {
			l.cfg.Logger.Info("logstore: removing leftover file", "file", name, "dir", l.dir)
			if err := os.Remove(l.dir + string(os.PathSeparator) + name); err != nil {
				return fmt.Errorf("logstore: %w", err)
			}
		}
	}
	slices.Sort(bases)

	start, err := readCheckpoint(l.dir)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		seg, err := createSegment(l.dir, start)
		if err != nil {
			return err
		}
		l.segs = []*segment{seg}
		l.start, l.synced, l.hw = start, start, start
		return nil
	}

	buf := make([]byte, scanBufSize)
	for i, base := range bases {
		last := i == len(bases)-1
		s, b, err := l.scanSegment(base, last, buf)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		if i > 0 && base != l.segs[i-1].end {
			return &SegmentError{Path: s.path, Pos: -1, Reason: fmt.Sprintf(
				"base offset %d does not follow end offset %d of the segment before it (a segment is missing or damaged)",
				base, l.segs[i-1].end)}
		}
		if last {
			if s.off, s.tim, err = createIndexes(l.dir, base, b); err != nil {
				return err
			}
		} else {
			if err := l.checkSealedIndexes(s, b); err != nil {
				return err
			}
			s.sealed = true
		}
		s.commit(s.size)
		l.size += s.size
	}

	act := l.active()
	if err := fdatasync(act.f); err != nil {
		// What Open found is what readers will see: make it durable.
		return fmt.Errorf("logstore: fsync %s: %w", act.path, err)
	}
	end := act.end
	if first := l.segs[0].base; start < first {
		start = first
	}
	if start > end {
		// The tail holding the log start offset was lost (it was never
		// fsynced); everything before the start offset is deleted anyway.
		l.cfg.Logger.Warn("logstore: log start offset beyond recovered end; starting empty at the start offset",
			"dir", l.dir, "start", start, "end", end)
		for _, s := range l.segs {
			if err := s.removeFiles(l.dir); err != nil {
				return err
			}
			s.release()
		}
		l.segs, l.size = nil, 0
		seg, err := createSegment(l.dir, start)
		if err != nil {
			return err
		}
		l.segs = []*segment{seg}
		end = start
	}
	l.start, l.synced, l.hw = start, end, end
	return nil
}

// seqReader reads a file front to back through one buffer.
type seqReader struct {
	f     *os.File
	buf   []byte
	start int64 // file position of buf[0]
	n     int64 // valid bytes in buf
}

// at returns size bytes at pos (size <= len(buf)); the file is known to
// hold them.
func (r *seqReader) at(pos, size int64) ([]byte, error) {
	if pos < r.start || pos+size > r.start+r.n {
		n, err := r.f.ReadAt(r.buf, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("logstore: read %s: %w", r.f.Name(), err)
		}
		r.start, r.n = pos, int64(n)
		if int64(n) < size {
			return nil, fmt.Errorf("logstore: read %s at %d: %w", r.f.Name(), pos, io.ErrUnexpectedEOF)
		}
	}
	return r.buf[pos-r.start : pos-r.start+size], nil
}

// crc computes the CRC-32C of [pos, pos+size) in buffer-sized pieces, for
// batches too large for the buffer.
func (r *seqReader) crc(pos, size int64) (uint32, error) {
	var c uint32
	r.n = 0
	for size > 0 {
		k := min(size, int64(len(r.buf)))
		if _, err := r.f.ReadAt(r.buf[:k], pos); err != nil {
			return 0, fmt.Errorf("logstore: read %s: %w", r.f.Name(), err)
		}
		c = crc32.Update(c, castagnoli, r.buf[:k])
		pos, size = pos+k, size-k
	}
	return c, nil
}

// checkBatch validates the batch at pos of a file of fileSize bytes,
// expecting base offset expect. It returns the header, the batch size and
// the max-timestamp offset delta, or a reason when the batch is damaged.
// An I/O error is returned as err.
func (r *seqReader) checkBatch(pos, fileSize, expect int64) (h BatchHeader, size int64, maxTsDelta int32, reason string, err error) {
	if fileSize-pos < batchHeaderSize {
		return h, 0, 0, fmt.Sprintf("%d bytes left, less than a batch header", fileSize-pos), nil
	}
	hdr, err := r.at(pos, batchHeaderSize)
	if err != nil {
		return h, 0, 0, "", err
	}
	h, perr := ParseBatchHeader(hdr)
	if perr != nil {
		return h, 0, 0, perr.Error(), nil
	}
	if h.BatchLength < batchLengthMin {
		return h, 0, 0, fmt.Sprintf("batch length %d too small", h.BatchLength), nil
	}
	size = int64(h.BatchLength) + 12
	if pos+size > fileSize {
		return h, 0, 0, fmt.Sprintf("batch of %d bytes runs past the end of the file", size), nil
	}
	if h.BaseOffset != expect {
		return h, size, 0, fmt.Sprintf("base offset %d, expected %d", h.BaseOffset, expect), nil
	}
	if size <= int64(len(r.buf)) {
		b, err := r.at(pos, size)
		if err != nil {
			return h, 0, 0, "", err
		}
		_, d, verr := validateBatch(b)
		if verr != nil {
			return h, size, 0, verr.Error(), nil
		}
		return h, size, d, "", nil
	}
	// Larger than the scan buffer (max.message.bytes was raised): check
	// the CRC in pieces; the records were checked when appended.
	c, err := r.crc(pos+crcStart, size-crcStart)
	if err != nil {
		return h, 0, 0, "", err
	}
	if c != h.CRC {
		return h, size, 0, "CRC-32C mismatch", nil
	}
	if h.NumRecords <= 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return h, size, 0, "record count does not match lastOffsetDelta", nil
	}
	return h, size, h.LastOffsetDelta, "", nil
}

// scanSegment opens and checks one segment (see the top of this file).
func (l *Log) scanSegment(base int64, last bool, buf []byte) (*segment, *indexBuilder, error) {
	s := newSegmentState(base)
	s.path = segmentName(l.dir, base, logSuffix)
	var err error
	if s.f, err = os.OpenFile(s.path, os.O_RDWR, 0); err != nil {
		return nil, nil, fmt.Errorf("logstore: %w", err)
	}
	fail := func(err error) (*segment, *indexBuilder, error) {
		s.closeFiles()
		return nil, nil, err
	}
	fi, err := s.f.Stat()
	if err != nil {
		return fail(fmt.Errorf("logstore: %w", err))
	}
	fileSize := fi.Size()
	if fileSize > maxSegmentBytes && !last {
		return fail(&SegmentError{Path: s.path, Pos: -1, Reason: "larger than any segment the log writes"})
	}
	r := &seqReader{f: s.f, buf: buf}
	b := &indexBuilder{}
	interval := l.cfg.IndexIntervalBytes
	nowMs := l.cfg.Now().UnixMilli()
	pos, expect := int64(0), base
	reason := ""
	var badSize int64
	for pos < fileSize {
		if pos >= maxSegmentBytes {
			reason = "segment larger than the log writes"
			break
		}
		h, size, maxTsDelta, why, err := r.checkBatch(pos, fileSize, expect)
		if err != nil {
			return fail(err)
		}
		if why != "" {
			reason, badSize = why, size
			break
		}
		if entry, ts := s.account(pos, size, &h, h.BaseOffset, maxTsDelta, interval, nowMs); entry {
			b.add(uint32(h.BaseOffset-base), uint32(pos), ts)
		}
		pos += size
		expect = h.BaseOffset + int64(h.LastOffsetDelta) + 1
	}
	if reason == "" {
		return s, b, nil
	}
	if !last {
		return fail(&SegmentError{Path: s.path, Pos: pos, Reason: reason + " (not the newest segment, so not a torn write; refusing to drop the data after it)"})
	}
	// Count whole batches after the damage, to tell a torn tail from
	// damage inside the log.
	after := 0
	if badSize > 0 {
		p, exp, known := pos+badSize, int64(0), false
		for p < fileSize {
			h, size, _, why, err := r.checkBatch(p, fileSize, exp)
			if !known && err == nil && strings.HasPrefix(why, "base offset") {
				// The damaged batch's offsets are unknown: take the next
				// batch's as they come.
				exp, known = h.BaseOffset, true
				continue
			}
			if err != nil || why != "" {
				break
			}
			after++
			p += size
			exp, known = h.BaseOffset+int64(h.LastOffsetDelta)+1, true
		}
	}
	if err := s.f.Truncate(pos); err != nil {
		return fail(fmt.Errorf("logstore: cut %s: %w", s.path, err))
	}
	if err := fdatasync(s.f); err != nil {
		return fail(fmt.Errorf("logstore: fsync %s: %w", s.path, err))
	}
	attrs := []any{"file", s.path, "pos", pos, "bytes_cut", fileSize - pos, "reason", reason, "end_offset", s.end}
	if after > 0 {
		l.cfg.Logger.Error("logstore: cut damaged log tail that was followed by whole batches",
			append(attrs, "whole_batches_dropped", after)...)
	} else {
		l.cfg.Logger.Warn("logstore: cut torn log tail", attrs...)
	}
	return s, b, nil
}

// checkSealedIndexes compares a sealed segment's index files with the
// entries rebuilt by the scan, rewrites them if they differ, and opens
// them for lookups.
func (l *Log) checkSealedIndexes(s *segment, b *indexBuilder) error {
	type idx struct {
		suffix  string
		magic   [4]byte
		esize   int
		entries []byte
		dst     **indexFile
	}
	for _, x := range []idx{
		{indexSuffix, offsetIndexMagic, offsetEntrySize, b.off, &s.off},
		{timeIndexSuffix, timeIndexMagic, timeEntrySize, b.tim, &s.tim},
	} {
		path := segmentName(l.dir, s.base, x.suffix)
		want := fileBytes(x.magic, x.esize, s.base, x.entries, s.size, true)
		have, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("logstore: %w", err)
		}
		if !bytes.Equal(have, want) {
			why := "does not match the segment"
			if err != nil {
				why = "missing"
			}
			l.cfg.Logger.Warn("logstore: rebuilding index", "file", path, "why", why)
			if err := writeFileAtomic(path, want); err != nil {
				return err
			}
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("logstore: %w", err)
		}
		*x.dst = &indexFile{f: f, magic: x.magic, esize: x.esize, base: s.base,
			n: b.n, flushed: b.n, crc: crc32Castagnoli(x.entries)}
	}
	return nil
}
