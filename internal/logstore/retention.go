package logstore

// The log start offset checkpoint, log-start-offset.checkpoint, records
// how far DeleteRecordsBefore has moved the log start offset. It is 20
// bytes, big-endian, replaced atomically (temp file, fsync, rename, fsync
// of the directory):
//
//	off len field
//	  0   4 magic        "SLSO"
//	  4   2 version      1
//	  6   2 reserved     0
//	  8   8 startOffset
//	 16   4 crc          CRC-32C (Castagnoli) of bytes 0..15
//
// On Open the log start offset is the larger of the checkpoint and the
// first segment's base offset (retention moves it by deleting segments,
// which needs no checkpoint). A missing file means 0; a damaged one fails
// Open with ErrCorruptCheckpoint, since guessing could bring deleted
// records back.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

const (
	checkpointName    = "log-start-offset.checkpoint"
	checkpointSize    = 20
	checkpointVersion = 1
)

var checkpointMagic = [4]byte{'S', 'L', 'S', 'O'}

func encodeCheckpoint(start int64) []byte {
	b := make([]byte, checkpointSize)
	copy(b, checkpointMagic[:])
	binary.BigEndian.PutUint16(b[4:], checkpointVersion)
	binary.BigEndian.PutUint64(b[8:], uint64(start))
	binary.BigEndian.PutUint32(b[16:], crc32Castagnoli(b[:16]))
	return b
}

// readCheckpoint returns the checkpointed log start offset (0 if none).
func readCheckpoint(dir string) (int64, error) {
	path := filepath.Join(dir, checkpointName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("logstore: %w", err)
	}
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("%w: %s: %s", ErrCorruptCheckpoint, path, why)
	}
	switch {
	case len(b) != checkpointSize:
		return bad(fmt.Sprintf("%d bytes, want %d", len(b), checkpointSize))
	case [4]byte(b[:4]) != checkpointMagic:
		return bad("bad magic")
	case binary.BigEndian.Uint16(b[4:]) != checkpointVersion:
		return bad(fmt.Sprintf("unknown version %d", binary.BigEndian.Uint16(b[4:])))
	case binary.BigEndian.Uint32(b[16:]) != crc32Castagnoli(b[:16]):
		return bad("CRC-32C mismatch")
	}
	start := int64(binary.BigEndian.Uint64(b[8:]))
	if start < 0 {
		return bad("negative start offset")
	}
	return start, nil
}

// DeleteRecordsBefore advances the log start offset to offset (Kafka's
// DeleteRecords): records below it are no longer readable, and segments
// wholly below it are deleted. It is durable when it returns. An offset
// above the high watermark is an *OffsetOutOfRangeError; one at or below
// the current start offset changes nothing.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.cfgMu.Lock() // one checkpoint writer at a time, in order
	defer l.cfgMu.Unlock()
	l.mu.RLock()
	closed, start, hw := l.closed, l.start, l.hw
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if offset < 0 || offset > hw {
		return &OffsetOutOfRangeError{Offset: offset, Start: start, End: hw}
	}
	if offset <= start {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(l.dir, checkpointName), encodeCheckpoint(offset)); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if offset > l.start {
		l.start = offset
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n+1].base <= l.start {
		n++
	}
	dead := l.detachLocked(n)
	l.mu.Unlock()
	return deleteSegments(l.dir, l.cfg.Logger, dead, "log start offset")
}

// EnforceRetention deletes the oldest segments while they are older than
// retention.ms (by their largest record timestamp, or the file's
// modification time when they hold none) or while the log without them
// is still at least retention.bytes. The active segment is never deleted.
func (l *Log) EnforceRetention() (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	cfg := l.cfg
	nowMs := cfg.Now().UnixMilli()
	remaining := l.size
	n := 0
	for ; n < len(l.segs)-1; n++ {
		s := l.segs[n]
		overSize := cfg.RetentionBytes >= 0 && remaining-s.size >= cfg.RetentionBytes
		expired := false
		if cfg.RetentionMs >= 0 {
			ts := s.maxTs
			if ts < 0 {
				if fi, err := s.f.Stat(); err == nil {
					ts = fi.ModTime().UnixMilli()
				}
			}
			expired = nowMs-ts > cfg.RetentionMs
		}
		if !overSize && !expired {
			break
		}
		remaining -= s.size
	}
	dead := l.detachLocked(n)
	if len(dead) > 0 && l.segs[0].base > l.start {
		l.start = l.segs[0].base
	}
	l.mu.Unlock()
	return len(dead), deleteSegments(l.dir, cfg.Logger, dead, "retention")
}

// detachLocked removes the first n segments from the log and returns them.
func (l *Log) detachLocked(n int) []*segment {
	if n <= 0 {
		return nil
	}
	dead := make([]*segment, n)
	copy(dead, l.segs[:n])
	l.segs = append(l.segs[:0], l.segs[n:]...)
	for _, s := range dead {
		l.size -= s.size
	}
	return dead
}

// deleteSegments unlinks detached segments and drops the log's reference;
// readers holding Chunks keep their files open until they release them.
func deleteSegments(dir string, logger *slog.Logger, dead []*segment, why string) error {
	var errs []error
	for _, s := range dead {
		logger.Info("logstore: deleting segment", "file", s.path, "base_offset", s.base,
			"end_offset", s.end, "bytes", s.size, "why", why)
		if err := s.removeFiles(dir); err != nil {
			errs = append(errs, err)
		}
		s.release()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	return nil
}
