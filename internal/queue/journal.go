package queue

// State journal format
// ====================
//
// What happens to messages after they are sent — receives (leases),
// visibility changes, deletes, purges, copies — is recorded in
// <data-dir>/queues/<name>/state.journal, an append-only file replayed on
// top of the last snapshot (snapshot.go) when the queue opens. All
// integers are big-endian.
//
//	header, 16 bytes:
//	  0   4  magic "SLQJ"
//	  4   2  version (1)
//	  6   2  reserved (0)
//	  8   8  generation: the snapshot generation this journal follows
//	frames, back to back:
//	  0   4  body length N (1 ≤ N ≤ maxJournalRecord)
//	  4   4  CRC-32C (Castagnoli) of the body
//	  8   N  body: 1 byte record type, then its payload
//
// Record payloads:
//
//	1 lease       offset i64, lease seq u64, visible-at ms i64, lease
//	              start ms i64, first receive ms i64, sent ms i64, receive
//	              count u32, group (u16 length + bytes): the message was
//	              received (a new lease; the count is the count after it)
//	2 visibility  offset i64, lease seq u64, visible-at ms i64
//	3 delete      count u32, then count offsets i64: done (deleted,
//	              expired, dead-lettered)
//	4 purge       offset i64: every offset below it is done
//	5 copy        old offset i64, then a lease payload for the new offset:
//	              the message was copied forward to the new offset and the
//	              old one is done
//
// Durability: records are appended to an in-memory buffer under the
// queue's lock, in the order the state changed, and made durable by group
// commit — the first waiter writes everything buffered and fdatasyncs
// while later ones wait for that fsync or elect the next writer. Every
// operation that changes state waits for its record before it answers, so
// an acknowledged receive, visibility change or delete survives a crash.
//
// Recovery reads frames until the first one that is short, too long or
// fails its CRC, cuts the file there (a torn tail: those operations were
// never acknowledged) and logs what it cut. A journal whose generation is
// older than the snapshot's was superseded by it (a crash between writing
// the snapshot and starting the new journal) and is ignored.
//
// Checkpoint: when the journal grows past checkpointBytes (and on Close)
// the queue writes a new snapshot of its whole state (generation g+1) and
// then replaces the journal with an empty one of generation g+1.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

const (
	journalName      = "state.journal"
	journalMagic     = "SLQJ"
	journalVersion   = 1
	journalHeaderLen = 16
	frameHeaderLen   = 8
	// maxJournalRecord bounds one record: a delete record of 100,000
	// offsets is 800 KB.
	maxJournalRecord = 4 << 20

	recLease      = 1
	recVisibility = 2
	recDelete     = 3
	recPurge      = 4
	recCopy       = 5

	leasePayloadMin = 6*8 + 4 + 2
)

// leaseRec is the payload of lease and copy records and of snapshot
// entries.
type leaseRec struct {
	offset     int64
	leaseSeq   uint64
	visibleAt  int64
	leaseStart int64
	firstRecv  int64
	sentMs     int64
	recvCount  uint32
	group      string
}

func (e *entry) leaseRec() leaseRec {
	return leaseRec{offset: e.offset, leaseSeq: e.leaseSeq, visibleAt: e.visibleAt, leaseStart: e.leaseStart,
		firstRecv: e.firstRecv, sentMs: e.sentMs, recvCount: uint32(e.recvCount), group: e.group}
}

func appendLease(dst []byte, l *leaseRec) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.offset))
	dst = binary.BigEndian.AppendUint64(dst, l.leaseSeq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.visibleAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.leaseStart))
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.firstRecv))
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.sentMs))
	dst = binary.BigEndian.AppendUint32(dst, l.recvCount)
	g := l.group
	if len(g) > 0xffff {
		g = g[:0xffff] // groups are at most 128 characters; never reached
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(g)))
	return append(dst, g...)
}

// readLease decodes a lease payload at the start of b and returns the rest.
func readLease(b []byte, l *leaseRec) ([]byte, bool) {
	if len(b) < leasePayloadMin {
		return nil, false
	}
	l.offset = int64(binary.BigEndian.Uint64(b[0:]))
	l.leaseSeq = binary.BigEndian.Uint64(b[8:])
	l.visibleAt = int64(binary.BigEndian.Uint64(b[16:]))
	l.leaseStart = int64(binary.BigEndian.Uint64(b[24:]))
	l.firstRecv = int64(binary.BigEndian.Uint64(b[32:]))
	l.sentMs = int64(binary.BigEndian.Uint64(b[40:]))
	l.recvCount = binary.BigEndian.Uint32(b[48:])
	n := int(binary.BigEndian.Uint16(b[52:]))
	b = b[54:]
	if n > len(b) || l.offset < 0 {
		return nil, false
	}
	l.group = string(b[:n])
	return b[n:], true
}

// journalRec is one decoded journal record.
type journalRec struct {
	typ     byte
	lease   leaseRec // lease, copy (the new offset)
	offset  int64    // visibility, purge; copy: the old offset
	seq     uint64   // visibility
	visible int64    // visibility
	offsets []int64  // delete
}

var errBadJournalRecord = errors.New("bad journal record")

// decodeJournalRecord decodes a frame body. It never panics.
func decodeJournalRecord(b []byte) (journalRec, error) {
	var r journalRec
	if len(b) < 1 {
		return r, errBadJournalRecord
	}
	r.typ, b = b[0], b[1:]
	ok := true
	switch r.typ {
	case recLease:
		b, ok = readLease(b, &r.lease)
	case recVisibility:
		if len(b) < 24 {
			return r, errBadJournalRecord
		}
		r.offset = int64(binary.BigEndian.Uint64(b))
		r.seq = binary.BigEndian.Uint64(b[8:])
		r.visible = int64(binary.BigEndian.Uint64(b[16:]))
		b = b[24:]
	case recDelete:
		if len(b) < 4 {
			return r, errBadJournalRecord
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n)*8 != uint64(len(b)) {
			return r, errBadJournalRecord
		}
		r.offsets = make([]int64, n)
		for i := range r.offsets {
			r.offsets[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
		}
		b = nil
	case recPurge:
		if len(b) < 8 {
			return r, errBadJournalRecord
		}
		r.offset = int64(binary.BigEndian.Uint64(b))
		b = b[8:]
	case recCopy:
		if len(b) < 8 {
			return r, errBadJournalRecord
		}
		r.offset = int64(binary.BigEndian.Uint64(b))
		b, ok = readLease(b[8:], &r.lease)
	default:
		return r, errBadJournalRecord
	}
	if !ok || len(b) != 0 || r.offset < 0 {
		return r, errBadJournalRecord
	}
	for _, o := range r.offsets {
		if o < 0 {
			return r, errBadJournalRecord
		}
	}
	return r, nil
}

// journal is the group-committed state journal of one queue.
type journal struct {
	path string

	mu       sync.Mutex
	cond     *sync.Cond
	f        *os.File
	buf      []byte // appended, not yet written
	spare    []byte
	appended int64 // bytes ever appended (across rotations)
	synced   int64 // bytes ever made durable
	size     int64 // bytes in the current file, written or buffered
	syncing  bool
	failed   error
	closed   bool
}

func journalHeader(gen uint64) []byte {
	h := make([]byte, journalHeaderLen)
	copy(h, journalMagic)
	binary.BigEndian.PutUint16(h[4:], journalVersion)
	binary.BigEndian.PutUint64(h[8:], gen)
	return h
}

// forEachJournalFrame walks frames of a journal body (after the header),
// calling fn with each body; it returns how many bytes were whole, valid
// frames.
func forEachJournalFrame(b []byte, fn func(body []byte) error) (int, error) {
	valid := 0
	for len(b)-valid >= frameHeaderLen {
		n := binary.BigEndian.Uint32(b[valid:])
		if n < 1 || n > maxJournalRecord || int64(n) > int64(len(b)-valid-frameHeaderLen) {
			break
		}
		body := b[valid+frameHeaderLen : valid+frameHeaderLen+int(n)]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[valid+4:]) {
			break
		}
		if err := fn(body); err != nil {
			return valid, err
		}
		valid += frameHeaderLen + int(n)
	}
	return valid, nil
}

// openJournal reads the journal at dir, replays records of generation gen
// through apply, cuts a torn tail and returns the journal ready for
// appends. A journal of an older generation is replaced by an empty one.
func openJournal(dir string, gen uint64, apply func(r *journalRec) error, logf func(msg string, args ...any)) (*journal, error) {
	path := filepath.Join(dir, journalName)
	j := &journal{path: path}
	j.cond = sync.NewCond(&j.mu)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return j, j.startFile(gen)
	case err != nil:
		return nil, fmt.Errorf("%w: read %s: %v", ErrStorage, path, err)
	}
	if len(data) < journalHeaderLen {
		logf("queue: journal shorter than its header; starting a new one", "path", path, "bytes", len(data))
		return j, j.startFile(gen)
	}
	if string(data[:4]) != journalMagic || binary.BigEndian.Uint16(data[4:]) != journalVersion {
		return nil, &CorruptError{Path: path, Reason: "bad magic or version"}
	}
	switch fg := binary.BigEndian.Uint64(data[8:]); {
	case fg < gen:
		// Superseded: the snapshot of generation gen already holds it.
		return j, j.startFile(gen)
	case fg > gen && gen != 0: // gen 0: the snapshot is missing; take what the journal has
		return nil, &CorruptError{Path: path, Reason: fmt.Sprintf("journal generation %d is newer than the snapshot's %d", fg, gen)}
	}
	valid, err := forEachJournalFrame(data[journalHeaderLen:], func(body []byte) error {
		r, err := decodeJournalRecord(body)
		if err != nil {
			return &CorruptError{Path: path, Reason: "record with a good checksum does not decode"}
		}
		return apply(&r)
	})
	if err != nil {
		return nil, err
	}
	end := int64(journalHeaderLen + valid)
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrStorage, path, err)
	}
	if end < int64(len(data)) {
		logf("queue: cut torn journal tail", "path", path, "kept", end, "cut", int64(len(data))-end)
		err := f.Truncate(end)
		if err == nil {
			err = fdatasync(f)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: truncate %s: %v", ErrStorage, path, err)
		}
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	j.f, j.size = f, end
	return j, nil
}

// startFile replaces the journal file with an empty one of generation gen
// (temp file, fsync, rename, fsync of the directory).
func (j *journal) startFile(gen uint64) error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: create %s: %v", ErrStorage, tmp, err)
	}
	_, err = f.Write(journalHeader(gen))
	if err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(j.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: start journal %s: %v", ErrStorage, j.path, err)
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size = f, journalHeaderLen
	return nil
}

// add appends one record (type + payload) and returns the position to
// wait for. Called with the queue's lock held, in state-change order.
func (j *journal) add(body []byte) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = binary.BigEndian.AppendUint32(j.buf, uint32(len(body)))
	j.buf = binary.BigEndian.AppendUint32(j.buf, crc32.Checksum(body, castagnoli))
	j.buf = append(j.buf, body...)
	n := int64(frameHeaderLen + len(body))
	j.appended += n
	j.size += n
	return j.appended
}

// wait returns when every record up to pos is durable.
func (j *journal) wait(pos int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < pos {
		if j.failed != nil {
			return j.failed
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		if j.closed {
			return ErrClosed
		}
		j.syncing = true
		buf, goal, f := j.buf, j.appended, j.f
		j.buf, j.spare = j.spare[:0], nil
		j.mu.Unlock()
		_, err := f.Write(buf)
		if err == nil {
			err = fdatasync(f)
		}
		j.mu.Lock()
		j.syncing = false
		j.spare = buf[:0]
		if err != nil {
			j.failed = fmt.Errorf("%w: journal %s: %v", ErrStorage, j.path, err)
		} else if goal > j.synced {
			j.synced = goal
		}
		j.cond.Broadcast()
	}
	return nil
}

// rotate starts a new, empty journal of generation gen after a snapshot
// that holds every record appended so far was made durable: everything
// buffered is durable now without being written.
func (j *journal) rotate(gen uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.syncing {
		j.cond.Wait()
	}
	if j.failed != nil {
		return j.failed
	}
	if err := j.startFile(gen); err != nil {
		j.failed = err
		j.cond.Broadcast()
		return err
	}
	j.buf = j.buf[:0]
	j.synced = j.appended
	j.cond.Broadcast()
	return nil
}

// currentSize is the journal's size including buffered records.
func (j *journal) currentSize() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// close writes and syncs what is buffered and closes the file.
func (j *journal) close() error {
	err := j.wait(j.position())
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.syncing {
		j.cond.Wait()
	}
	j.closed = true
	if j.f != nil {
		if cerr := j.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%w: %v", ErrStorage, cerr)
		}
		j.f = nil
	}
	j.cond.Broadcast()
	return err
}

func (j *journal) position() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appended
}

// Record builders. Each returns the body (type + payload).

func leaseBody(dst []byte, typ byte, old int64, l *leaseRec) []byte {
	dst = append(dst, typ)
	if typ == recCopy {
		dst = binary.BigEndian.AppendUint64(dst, uint64(old))
	}
	return appendLease(dst, l)
}

func visibilityBody(dst []byte, offset int64, seq uint64, visibleAt int64) []byte {
	dst = append(dst, recVisibility)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint64(dst, uint64(visibleAt))
}

func deleteBody(dst []byte, offsets []int64) []byte {
	dst = append(dst, recDelete)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(offsets)))
	for _, o := range offsets {
		dst = binary.BigEndian.AppendUint64(dst, uint64(o))
	}
	return dst
}

func purgeBody(dst []byte, upTo int64) []byte {
	dst = append(dst, recPurge)
	return binary.BigEndian.AppendUint64(dst, uint64(upTo))
}

// fdatasync and syncDir: see sync.go.
