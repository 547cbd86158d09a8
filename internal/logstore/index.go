package logstore

// Index files. Each segment NNNNNNNNNNNNNNNNNNNN.log (see segment.go) has a
// sparse offset index NNNNNNNNNNNNNNNNNNNN.index and a time index
// NNNNNNNNNNNNNNNNNNNN.timeindex. Both are derived data: Open rebuilds them
// from the segment whenever they do not match it byte for byte.
//
// Both files start with a 32-byte header, big-endian:
//
//	off len field
//	  0   4 magic        "SLOI" (offset index) or "SLTI" (time index)
//	  4   2 version      1
//	  6   2 entrySize    8 (offset index) or 12 (time index)
//	  8   8 baseOffset   the segment's base offset
//	 16   4 logSize      bytes of the .log file the entries cover (sealed)
//	 20   4 count        number of entries; 0xFFFFFFFF while the segment is
//	                     the active one (entries are then appended in blocks
//	                     and the file may hold fewer than the log implies)
//	 24   4 entriesCRC   CRC-32C (Castagnoli) of all entries (sealed), else 0
//	 28   4 headerCRC    CRC-32C of bytes 0..27
//
// followed by count fixed-size entries:
//
//	offset index: relativeOffset uint32, position uint32
//	    the batch whose base offset is baseOffset+relativeOffset starts at
//	    byte position of the .log file.
//	time index:   timestamp int64, relativeOffset uint32
//	    every record at an offset below baseOffset+relativeOffset has a
//	    timestamp <= timestamp.
//
// Entry i of both files is written at the same moment, for the same batch:
// before a batch is appended, when at least index.interval.bytes of log
// have been written since the previous entry (the first batch, at position
// 0, needs none). The time index timestamp is the largest record timestamp
// in the segment before that batch, so timestamps never decrease (unlike
// Kafka's time index, an entry is written even when it did not grow, which
// bounds every scan to about one index interval).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

const (
	indexHeaderSize   = 32
	indexVersion      = 1
	offsetEntrySize   = 8
	timeEntrySize     = 12
	indexUnsealed     = 0xFFFFFFFF
	indexBlockEntries = 256 // entries buffered in memory before a write
)

var (
	offsetIndexMagic = [4]byte{'S', 'L', 'O', 'I'}
	timeIndexMagic   = [4]byte{'S', 'L', 'T', 'I'}
)

// indexFile is one index file of a segment. While the segment is active,
// new entries collect in pend and are written a block at a time; the
// previous block stays in memory too, so that lookups near the tail (where
// consumers read) need no system call. Sealed indexes are searched with
// pread. The memory used is two blocks per active segment, whatever the
// size of the log. Fields are guarded by Log.mu.
type indexFile struct {
	f         *os.File
	magic     [4]byte
	esize     int
	base      int64
	n         int    // entries in total
	flushed   int    // entries written to the file
	crc       uint32 // running CRC-32C of all entries
	pend      []byte // entries not yet written; nil once sealed
	prev      []byte // the block written last; nil once sealed
	prevFirst int    // entry number of prev[0]
}

func newIndexFile(f *os.File, magic [4]byte, esize int, base int64) *indexFile {
	return &indexFile{
		f: f, magic: magic, esize: esize, base: base,
		pend: make([]byte, 0, indexBlockEntries*esize),
		prev: make([]byte, 0, indexBlockEntries*esize),
	}
}

// indexHeader encodes a header; count indexUnsealed marks an active index.
func indexHeader(dst []byte, magic [4]byte, esize int, base int64, logSize int64, count uint32, entriesCRC uint32) []byte {
	var h [indexHeaderSize]byte
	copy(h[0:4], magic[:])
	binary.BigEndian.PutUint16(h[4:], indexVersion)
	binary.BigEndian.PutUint16(h[6:], uint16(esize))
	binary.BigEndian.PutUint64(h[8:], uint64(base))
	binary.BigEndian.PutUint32(h[16:], uint32(logSize))
	binary.BigEndian.PutUint32(h[20:], count)
	binary.BigEndian.PutUint32(h[24:], entriesCRC)
	binary.BigEndian.PutUint32(h[28:], crc32.Checksum(h[:28], castagnoli))
	return append(dst, h[:]...)
}

func putOffsetEntry(dst []byte, rel uint32, pos uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, rel), pos)
}

func putTimeEntry(dst []byte, ts int64, rel uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(dst, uint64(ts)), rel)
}

// add appends one entry. A write error is returned and leaves the index
// unusable; the log then fails.
func (x *indexFile) add(e []byte) error {
	x.pend = append(x.pend, e...)
	x.crc = crc32.Update(x.crc, castagnoli, x.pend[len(x.pend)-len(e):])
	x.n++
	if len(x.pend) == cap(x.pend) {
		return x.flush()
	}
	return nil
}

// flush writes the pending block and keeps it as prev.
func (x *indexFile) flush() error {
	if len(x.pend) == 0 {
		return nil
	}
	if _, err := x.f.WriteAt(x.pend, indexHeaderSize+int64(x.flushed)*int64(x.esize)); err != nil {
		return fmt.Errorf("logstore: write %s: %w", x.f.Name(), err)
	}
	x.prevFirst = x.flushed
	x.flushed = x.n
	x.prev, x.pend = x.pend, x.prev[:0]
	return nil
}

// seal writes everything and the final header, and frees the buffers.
func (x *indexFile) seal(logSize int64) error {
	if err := x.flush(); err != nil {
		return err
	}
	hdr := indexHeader(make([]byte, 0, indexHeaderSize), x.magic, x.esize, x.base, logSize, uint32(x.n), x.crc)
	if _, err := x.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("logstore: write %s: %w", x.f.Name(), err)
	}
	x.pend, x.prev = nil, nil
	return nil
}

// memFirst is the first entry held in memory (x.n when none).
func (x *indexFile) memFirst() int {
	if len(x.prev) > 0 {
		return x.prevFirst
	}
	if x.pend != nil {
		return x.flushed
	}
	return x.n
}

// entry returns entry i, from memory or read into scratch (len >= esize).
func (x *indexFile) entry(i int, scratch []byte) ([]byte, error) {
	es := x.esize
	if i >= x.flushed {
		j := (i - x.flushed) * es
		return x.pend[j : j+es], nil
	}
	if len(x.prev) > 0 && i >= x.prevFirst {
		j := (i - x.prevFirst) * es
		return x.prev[j : j+es], nil
	}
	e := scratch[:es]
	if _, err := x.f.ReadAt(e, indexHeaderSize+int64(i)*int64(es)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("logstore: read %s: %w", x.f.Name(), err)
	}
	return e, nil
}

// Index keys a search can compare (no func values, so that the scratch
// buffer of a pread stays on the stack).
type indexKey int

const (
	keyRelOffset indexKey = iota // offset index: relative offset
	keyPosition                  // offset index: position
	keyTimestamp                 // time index: timestamp
)

func (k indexKey) of(e []byte) int64 {
	switch k {
	case keyRelOffset:
		return int64(binary.BigEndian.Uint32(e))
	case keyPosition:
		return int64(binary.BigEndian.Uint32(e[4:]))
	default:
		return int64(binary.BigEndian.Uint64(e))
	}
}

// search returns the number of entries whose key is below target (with
// orEqual, at or below it): the keys never decrease along an index. It
// tries the in-memory tail first, since most lookups are near the end.
func (x *indexFile) search(k indexKey, target int64, orEqual bool) (int, error) {
	var scratch [16]byte
	past := func(key int64) bool { return key > target || (!orEqual && key == target) }
	lo, hi := 0, x.n
	if m := x.memFirst(); m > 0 && m < x.n {
		e, err := x.entry(m, scratch[:])
		if err != nil {
			return 0, err
		}
		if past(k.of(e)) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := x.entry(mid, scratch[:])
		if err != nil {
			return 0, err
		}
		if past(k.of(e)) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// lookupOffset returns the position of the last indexed batch whose base
// offset is <= offset (0, the first batch, when none is).
func (x *indexFile) lookupOffset(offset int64) (int64, error) {
	return x.positionBefore(keyRelOffset, offset-x.base)
}

// lookupPosition returns the position of the last indexed batch starting
// at or before pos (0 when none).
func (x *indexFile) lookupPosition(pos int64) (int64, error) {
	return x.positionBefore(keyPosition, pos)
}

func (x *indexFile) positionBefore(k indexKey, target int64) (int64, error) {
	i, err := x.search(k, target, true)
	if err != nil || i == 0 {
		return 0, err
	}
	var scratch [16]byte
	e, err := x.entry(i-1, scratch[:])
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint32(e[4:])), nil
}

// lookupTime returns the entry number of the last time index entry whose
// timestamp is < ts, or -1: all records before that entry's offset are
// older than ts, so a search for ts may start there.
func (x *indexFile) lookupTime(ts int64) (int, error) {
	i, err := x.search(keyTimestamp, ts, false)
	return i - 1, err
}

// timeEntryOffset returns the relative offset of time index entry i.
func (x *indexFile) timeEntryOffset(i int) (int64, error) {
	var scratch [16]byte
	e, err := x.entry(i, scratch[:])
	if err != nil {
		return 0, err
	}
	return x.base + int64(binary.BigEndian.Uint32(e[8:])), nil
}

// indexBuilder accumulates the entries Open expects for a segment, to
// compare with (or rewrite) the index files.
type indexBuilder struct {
	off, tim []byte
	n        int
}

func (b *indexBuilder) add(rel uint32, pos uint32, ts int64) {
	b.off = putOffsetEntry(b.off, rel, pos)
	b.tim = putTimeEntry(b.tim, ts, rel)
	b.n++
}

// fileBytes renders a complete index file: sealed (with count, logSize and
// CRC) or in the active form.
func fileBytes(magic [4]byte, esize int, base int64, entries []byte, logSize int64, sealed bool) []byte {
	out := make([]byte, 0, indexHeaderSize+len(entries))
	if sealed {
		out = indexHeader(out, magic, esize, base, logSize, uint32(len(entries)/esize), crc32.Checksum(entries, castagnoli))
	} else {
		out = indexHeader(out, magic, esize, base, 0, indexUnsealed, 0)
	}
	return append(out, entries...)
}
