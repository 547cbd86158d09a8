package queue

// Snapshot format
// ===============
//
// <data-dir>/queues/<name>/state.snap holds a queue's whole delivery
// state at a checkpoint; the journal (journal.go) holds what happened
// since. It is written whole and replaced atomically (temp file, fsync,
// rename, fsync of the directory). All integers are big-endian.
//
//	  0   4  magic "SLQS"
//	  4   2  version (1)
//	  6   2  reserved (0)
//	  8   4  payload length N (≤ maxSnapshotPayload)
//	 12   N  payload:
//	           generation u64      the journal generation that follows it
//	           floor i64           every offset below is done
//	           next lease seq u64
//	           key [32]byte        the queue's receipt-handle HMAC key
//	           run count u32, then per run: start i64, length i64 —
//	                               done offsets at or above the floor
//	           entry count u32, then per entry a lease payload (journal.go)
//	                               — messages received and not deleted
//	12+N  4  CRC-32C (Castagnoli) of bytes [0, 12+N)
//
// A missing snapshot means a queue that was never checkpointed: its
// directory is new. A damaged one fails Open with a *CorruptError: the
// state cannot be guessed (guessing could redeliver deleted messages or
// forget receive counts), so an operator decides.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	snapshotName       = "state.snap"
	snapshotMagic      = "SLQS"
	snapshotVersion    = 1
	maxSnapshotPayload = 1 << 30
)

// snapshot is the decoded content of state.snap.
type snapshot struct {
	gen     uint64
	floor   int64
	nextSeq uint64
	key     [32]byte
	runs    [][2]int64
	entries []leaseRec
}

func encodeSnapshot(s *snapshot, st *deliveryState) []byte {
	b := make([]byte, 12, 12+64+16*len(st.del.words)+64*len(st.tracked))
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[4:], snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, s.gen)
	b = binary.BigEndian.AppendUint64(b, uint64(st.del.floor))
	b = binary.BigEndian.AppendUint64(b, st.nextSeq)
	b = append(b, s.key[:]...)
	nrunsAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	var nruns uint32
	st.del.runs(func(start, n int64) {
		b = binary.BigEndian.AppendUint64(b, uint64(start))
		b = binary.BigEndian.AppendUint64(b, uint64(n))
		nruns++
	})
	binary.BigEndian.PutUint32(b[nrunsAt:], nruns)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.tracked)))
	for _, e := range st.tracked {
		l := e.leaseRec()
		b = appendLease(b, &l)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadSnapshot = errors.New("bad snapshot")

// decodeSnapshot checks and decodes a whole snapshot file. It never
// panics; the error is a reason for a *CorruptError.
func decodeSnapshot(b []byte) (*snapshot, error) {
	bad := func(why string) (*snapshot, error) { return nil, fmt.Errorf("%w: %s", errBadSnapshot, why) }
	if len(b) < 16 {
		return bad("shorter than a header")
	}
	if string(b[:4]) != snapshotMagic {
		return bad("bad magic")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != snapshotVersion {
		return bad(fmt.Sprintf("unsupported version %d", v))
	}
	n := binary.BigEndian.Uint32(b[8:])
	if n > maxSnapshotPayload || int64(n)+16 != int64(len(b)) {
		return bad("payload length does not match the file size")
	}
	end := 12 + int(n)
	if crc32.Checksum(b[:end], castagnoli) != binary.BigEndian.Uint32(b[end:]) {
		return bad("CRC-32C mismatch")
	}
	p := b[12:end]
	if len(p) < 24+32+4 {
		return bad("payload too short")
	}
	s := &snapshot{}
	s.gen = binary.BigEndian.Uint64(p)
	s.floor = int64(binary.BigEndian.Uint64(p[8:]))
	s.nextSeq = binary.BigEndian.Uint64(p[16:])
	copy(s.key[:], p[24:56])
	p = p[56:]
	if s.floor < 0 {
		return bad("negative floor")
	}
	nr := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(nr)*16 > uint64(len(p)) {
		return bad("run count larger than the payload")
	}
	s.runs = make([][2]int64, nr)
	prevEnd := s.floor
	for i := range s.runs {
		start, ln := int64(binary.BigEndian.Uint64(p)), int64(binary.BigEndian.Uint64(p[8:]))
		p = p[16:]
		if start < prevEnd || ln <= 0 || start > 1<<62 || ln > 1<<62 {
			return bad("runs out of order or empty")
		}
		s.runs[i] = [2]int64{start, ln}
		prevEnd = start + ln
	}
	if len(p) < 4 {
		return bad("missing entry count")
	}
	ne := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(ne)*leasePayloadMin > uint64(len(p)) {
		return bad("entry count larger than the payload")
	}
	s.entries = make([]leaseRec, ne)
	for i := range s.entries {
		var ok bool
		if p, ok = readLease(p, &s.entries[i]); !ok {
			return bad("bad entry")
		}
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return s, nil
}

// readSnapshot loads the snapshot in dir; (nil, nil) when there is none.
func readSnapshot(dir string) (*snapshot, error) {
	path := filepath.Join(dir, snapshotName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrStorage, path, err)
	}
	s, err := decodeSnapshot(b)
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	return s, nil
}
