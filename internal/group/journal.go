package group

// The offsets journal: committed offsets and group metadata, durable.
//
// # On-disk format
//
// <data-dir>/groups/ is a logstore log (internal/logstore, segment.go
// documents the files: segments of Kafka v2 record batches, offset and
// time indexes, log-start-offset.checkpoint). The journal writes it the way
// Kafka writes __consumer_offsets, and its records use Kafka's schemas for
// that topic, so the files read like a Kafka offsets partition:
//
//   - every batch: magic 2 (the batch format version), attributes 0 (no
//     compression, CreateTime), producer id -1, epoch -1, sequence -1,
//     leader epoch -1, timestamps = the time of writing; CRC-32C covers
//     attributes to the end of the batch (logstore checks it on recovery).
//   - every record: no headers, timestamp delta 0; the key and value are
//     Kafka's __consumer_offsets structs (big-endian, strings int16-length
//     prefixed), each starting with an int16 schema version:
//
//	key v0/v1  OffsetCommitKey    {group, topic string; partition int32}
//	value v1   OffsetCommitValue  {offset int64; metadata string;
//	                               commitTimestamp, expireTimestamp int64}
//	           written when the commit carried a retention time
//	           (OffsetCommit v2-v4)
//	value v3   OffsetCommitValue  {offset int64; leaderEpoch int32;
//	                               metadata string; commitTimestamp int64}
//	           written otherwise; v0-v4 are read
//	key v2     GroupMetadataKey   {group string}
//	value v3   GroupMetadataValue {protocolType string; generation int32;
//	                               protocol, leader nullable string;
//	                               currentStateTimestamp int64;
//	                               members [{memberId, groupInstanceId,
//	                               clientId, clientHost, rebalanceTimeout,
//	                               sessionTimeout, subscription,
//	                               assignment}]}; v0-v4 are read
//	null value (length -1): a tombstone, the offset or group is deleted
//
// Key and value versions are the format version of each record: a key
// version other than 0-2 or a value that does not decode stops Open with a
// *JournalError (a newer format, or damage the CRC did not catch), rather
// than dropping state silently.
//
// # Writing
//
// One goroutine (the writer, owned by the journal, stopped by close) appends
// everything queued since its last append as one batch per request, with
// the log's "always" flush policy: a request is answered only after the
// fsync that covers it, and requests queued while an fsync runs share the
// next one (group commit). A batch is all or nothing after a crash
// (recovery cuts a torn tail at the last whole batch), so one OffsetCommit
// request is never half applied. Callbacks run in log order, so the
// in-memory state the coordinator builds from them is what replaying the
// log gives.
//
// # Replay and compaction
//
// Open reads the log from its start offset and keeps the last value of
// every key (tombstones remove the key): that map, kept up to date by the
// writer, is the live state. When the log holds more than
// Config.CompactRecords records and more than twice as many as there are
// live keys, the writer appends the live map again (a snapshot, in batches
// of at most 1 MiB) and then moves the log start offset to the snapshot's
// first offset (logstore DeleteRecordsBefore, durable through its
// checkpoint file), which frees the whole segments before it. A crash
// between the two leaves older records before the snapshot; replaying them
// first and the snapshot after gives the same state.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
)

const (
	keyVersionOffset         = 1 // the OffsetCommitKey version written
	keyVersionGroup          = 2 // GroupMetadataKey
	valueVersionOffsetExpire = 1
	valueVersionOffset       = 3
	valueVersionGroup        = 3

	batchHeaderSize = 61
	// snapshotBatchBytes caps one batch of a compaction snapshot, and the
	// batches the writer builds from several queued requests.
	snapshotBatchBytes = 1 << 20
	// journalSegmentBytes keeps segments small enough for compaction to
	// free space promptly.
	journalSegmentBytes = 16 << 20
	// journalMaxBatchBytes admits the largest request a client can send
	// (socket.request.max.bytes) as one batch.
	journalMaxBatchBytes = 128 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kv is one encoded record; a nil value is a tombstone.
type kv struct {
	key, value []byte
}

// persistReq is one request's records, written as one batch; done runs
// with the coordinator's lock held, in log order, once they are durable
// (err nil) or have failed.
type persistReq struct {
	recs []kv
	size int
	done func(err error)
}

// journal is the durable half of the coordinator's storage. Lock order:
// Coordinator.mu, then journal.qmu (a leaf). The writer never holds qmu
// while it takes Coordinator.mu.
type journal struct {
	dir    string
	log    *logstore.Log
	logger *slog.Logger
	now    func() int64 // ms
	// runDone runs the done callbacks of written requests under the
	// coordinator's lock.
	runDone func(reqs []*persistReq, err error)

	// Owned by the writer goroutine after open.
	live           map[string][]byte
	sinceStart     int64 // records from the log start offset to its end
	compactRecords int64
	failed         bool // an append failed: the log refuses writes until reopened

	appends atomic.Int64 // log appends (each one fsync), for benchmarks

	qmu    sync.Mutex
	queue  []*persistReq
	closed bool
	wake   chan struct{} // capacity 1
	done   chan struct{} // closed when the writer exits
}

// openJournal opens (creating if missing) the journal in dir and replays
// it into its live map.
func openJournal(dir string, cfg Config, runDone func([]*persistReq, error)) (*journal, error) {
	lcfg := logstore.Config{
		SegmentBytes:   journalSegmentBytes,
		RetentionMs:    -1,
		RetentionBytes: -1,
		MaxBatchBytes:  journalMaxBatchBytes,
		Flush:          logstore.FlushAlways,
		Logger:         cfg.Logger,
	}
	l, err := logstore.Open(dir, lcfg)
	if err != nil {
		return nil, fmt.Errorf("group: open offsets journal: %w", err)
	}
	j := &journal{
		dir: dir, log: l, logger: cfg.Logger,
		now:            func() int64 { return cfg.Now().UnixMilli() },
		runDone:        runDone,
		live:           make(map[string][]byte),
		compactRecords: cfg.CompactRecords,
		wake:           make(chan struct{}, 1),
		done:           make(chan struct{}),
	}
	if err := j.replay(); err != nil {
		l.Close()
		return nil, err
	}
	return j, nil
}

// replay reads the log from its start into j.live.
func (j *journal) replay() error {
	off, end := j.log.StartOffset(), j.log.HighWatermark()
	var buf []byte
	for off < end {
		ch, err := j.log.Read(off, 4<<20)
		if err != nil {
			return fmt.Errorf("group: read offsets journal at %d: %w", off, err)
		}
		buf, err = ch.AppendTo(buf[:0])
		ch.Release()
		if err != nil {
			return fmt.Errorf("group: read offsets journal at %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		next := off
		for b := buf; len(b) > 0; {
			n, last, err := walkBatch(b, func(offset int64, key, value []byte) error {
				if offset < off {
					return nil // below the start offset, or read before
				}
				ck, err := canonicalKey(key)
				if err != nil {
					return &JournalError{Dir: j.dir, Offset: offset, Reason: err.Error()}
				}
				if value == nil {
					delete(j.live, string(ck))
				} else {
					if err := checkValue(ck, value); err != nil {
						return &JournalError{Dir: j.dir, Offset: offset, Reason: err.Error()}
					}
					j.live[string(ck)] = value
				}
				j.sinceStart++
				return nil
			})
			if err != nil {
				var je *JournalError
				if errors.As(err, &je) {
					return err
				}
				return &JournalError{Dir: j.dir, Offset: next, Reason: err.Error()}
			}
			b = b[n:]
			next = last + 1
		}
		if next <= off {
			return &JournalError{Dir: j.dir, Offset: off, Reason: "no progress reading the log"}
		}
		off = next
	}
	return nil
}

// start runs the writer; it returns at once.
func (j *journal) start() { go j.writer() }

// enqueue queues a request for the writer. It never blocks for I/O; the
// caller holds the coordinator's lock. After close, done runs at once with
// ErrClosed.
func (j *journal) enqueue(r *persistReq) {
	for _, rec := range r.recs {
		r.size += len(rec.key) + len(rec.value) + 24
	}
	j.qmu.Lock()
	if j.closed {
		j.qmu.Unlock()
		r.done(ErrClosed)
		return
	}
	j.queue = append(j.queue, r)
	j.qmu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// close stops the writer after it has written what is queued, then closes
// the log.
func (j *journal) close() error {
	j.qmu.Lock()
	j.closed = true
	j.qmu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.done
	return j.log.Close()
}

func (j *journal) writer() {
	defer close(j.done)
	var buf []byte
	for {
		<-j.wake
		for {
			j.qmu.Lock()
			reqs, closed := j.queue, j.closed
			j.queue = nil
			j.qmu.Unlock()
			if len(reqs) == 0 {
				if closed {
					return
				}
				break
			}
			// One batch per run of requests up to snapshotBatchBytes (a
			// larger request gets a batch of its own).
			for len(reqs) > 0 {
				n, size := 1, reqs[0].size
				for n < len(reqs) && size+reqs[n].size <= snapshotBatchBytes {
					size += reqs[n].size
					n++
				}
				var recs []kv
				for _, r := range reqs[:n] {
					recs = append(recs, r.recs...)
				}
				buf = appendBatch(buf[:0], recs, j.now())
				_, err := j.log.Append(buf, logstore.AppendOptions{})
				j.appends.Add(1)
				if err != nil {
					j.failed = true
					j.logger.Error("group: offsets journal append failed", "dir", j.dir, "err", err)
					err = fmt.Errorf("%w: %v", ErrNotCoordinator, err)
				} else {
					j.applyLive(recs)
				}
				j.runDone(reqs[:n], err)
				reqs = reqs[n:]
			}
			if cap(buf) > 4*snapshotBatchBytes {
				buf = nil
			}
			j.maybeCompact()
		}
	}
}

func (j *journal) applyLive(recs []kv) {
	for _, r := range recs {
		if r.value == nil {
			delete(j.live, string(r.key))
		} else {
			j.live[string(r.key)] = r.value
		}
	}
	j.sinceStart += int64(len(recs))
}

// maybeCompact rewrites the live state at the end of the log and drops
// what precedes it, when the log has grown well past the live state.
func (j *journal) maybeCompact() {
	if j.failed || j.sinceStart < j.compactRecords || j.sinceStart < 2*int64(len(j.live)) {
		return
	}
	if err := j.compact(); err != nil {
		j.failed = true
		j.logger.Error("group: offsets journal compaction failed", "dir", j.dir, "err", err)
	}
}

func (j *journal) compact() error {
	snapStart := j.log.EndOffset()
	var (
		recs []kv
		size int
		buf  []byte
	)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		buf = appendBatch(buf[:0], recs, j.now())
		recs, size = recs[:0], 0
		_, err := j.log.Append(buf, logstore.AppendOptions{})
		return err
	}
	for k, v := range j.live {
		recs = append(recs, kv{key: []byte(k), value: v})
		size += len(k) + len(v) + 24
		if size >= snapshotBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	before := j.sinceStart
	if err := j.log.DeleteRecordsBefore(snapStart); err != nil {
		return err
	}
	j.sinceStart = int64(len(j.live))
	j.logger.Info("group: compacted offsets journal", "dir", j.dir, "records_before", before, "live", len(j.live))
	return nil
}

// ---- batch encoding ----

// appendBatch appends one uncompressed v2 record batch holding recs to
// dst. Base offset 0: the log assigns it.
func appendBatch(dst []byte, recs []kv, nowMs int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, batchHeaderSize)...)
	var rec []byte
	for i, r := range recs {
		rec = rec[:0]
		rec = append(rec, 0)              // attributes
		rec = binary.AppendVarint(rec, 0) // timestamp delta
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(len(r.key)))
		rec = append(rec, r.key...)
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0) // headers
		dst = binary.AppendVarint(dst, int64(len(rec)))
		dst = append(dst, rec...)
	}
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2                        // magic
	be.PutUint16(b[21:], 0)          // attributes
	be.PutUint32(b[23:], uint32(max(len(recs)-1, 0)))
	be.PutUint64(b[27:], uint64(nowMs))
	be.PutUint64(b[35:], uint64(nowMs))
	be.PutUint64(b[43:], 0xffffffffffffffff) // producer id -1
	be.PutUint16(b[51:], 0xffff)             // producer epoch -1
	be.PutUint32(b[53:], 0xffffffff)         // base sequence -1
	be.PutUint32(b[57:], uint32(len(recs)))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return dst
}

// walkBatch calls fn for every record of the batch at the start of b, with
// its absolute offset; a nil value is a tombstone. It returns the batch's
// size and last offset. It checks lengths and the CRC and never panics on
// bad input. key and value alias b.
func walkBatch(b []byte, fn func(offset int64, key, value []byte) error) (int, int64, error) {
	if len(b) < batchHeaderSize {
		return 0, 0, errors.New("short batch header")
	}
	be := binary.BigEndian
	base := int64(be.Uint64(b[0:]))
	blen := int64(int32(be.Uint32(b[8:])))
	if blen < batchHeaderSize-12 || blen > int64(len(b)-12) {
		return 0, 0, fmt.Errorf("batch length %d out of range", blen)
	}
	size := int(blen) + 12
	b = b[:size]
	if b[16] != 2 {
		return 0, 0, fmt.Errorf("batch magic %d, want 2", b[16])
	}
	if crc32.Checksum(b[21:], castagnoli) != be.Uint32(b[17:]) {
		return 0, 0, errors.New("batch CRC mismatch")
	}
	if attrs := be.Uint16(b[21:]); attrs&0x07 != 0 || attrs&0x30 != 0 {
		return 0, 0, fmt.Errorf("batch attributes %#x: the journal writes no compressed, transactional or control batches", attrs)
	}
	lastDelta := int64(int32(be.Uint32(b[23:])))
	n := int64(int32(be.Uint32(b[57:])))
	if n < 0 || n > int64(len(b)) {
		return 0, 0, fmt.Errorf("record count %d out of range", n)
	}
	recs := b[batchHeaderSize:]
	for i := int64(0); i < n; i++ {
		l, k := binary.Varint(recs)
		if k <= 0 || l < 0 || l > int64(len(recs)-k) {
			return 0, 0, fmt.Errorf("record %d: bad length", i)
		}
		r := recs[k : k+int(l)]
		recs = recs[k+int(l):]
		offDelta, key, value, err := parseRecord(r)
		if err != nil {
			return 0, 0, fmt.Errorf("record %d: %v", i, err)
		}
		if err := fn(base+offDelta, key, value); err != nil {
			return 0, 0, err
		}
	}
	if len(recs) != 0 {
		return 0, 0, errors.New("bytes after the last record")
	}
	return size, base + lastDelta, nil
}

// parseRecord decodes one record body (after its length).
func parseRecord(r []byte) (offsetDelta int64, key, value []byte, err error) {
	if len(r) < 1 {
		return 0, nil, nil, errors.New("empty record")
	}
	r = r[1:] // attributes
	varint := func() (int64, bool) {
		v, k := binary.Varint(r)
		if k <= 0 {
			return 0, false
		}
		r = r[k:]
		return v, true
	}
	bytesField := func() ([]byte, bool, bool) { // value, null, ok
		l, ok := varint()
		if !ok || l < -1 || l > int64(len(r)) {
			return nil, false, false
		}
		if l == -1 {
			return nil, true, true
		}
		v := r[:l:l]
		r = r[l:]
		return v, false, true
	}
	if _, ok := varint(); !ok { // timestamp delta
		return 0, nil, nil, errors.New("bad timestamp delta")
	}
	od, ok := varint()
	if !ok || od < 0 || od > 1<<31-1 {
		return 0, nil, nil, errors.New("bad offset delta")
	}
	key, null, ok := bytesField()
	if !ok || null {
		return 0, nil, nil, errors.New("bad or null key")
	}
	value, null, ok = bytesField()
	if !ok {
		return 0, nil, nil, errors.New("bad value")
	}
	if !null && value == nil {
		value = []byte{}
	}
	nh, ok := varint()
	if !ok || nh != 0 {
		return 0, nil, nil, errors.New("unexpected headers")
	}
	if len(r) != 0 {
		return 0, nil, nil, errors.New("bytes after the record")
	}
	return od, key, value, nil
}

// ---- record schemas ----

// journalKey is a decoded record key.
type journalKey struct {
	group     string
	isOffset  bool // else group metadata
	topic     string
	partition int32
}

func (k journalKey) encode() []byte {
	if k.isOffset {
		ok := kmsg.OffsetCommitKey{Version: keyVersionOffset, Group: k.group, Topic: k.topic, Partition: k.partition}
		return ok.AppendTo(nil)
	}
	gk := kmsg.GroupMetadataKey{Version: keyVersionGroup, Group: k.group}
	return gk.AppendTo(nil)
}

func decodeKey(b []byte) (journalKey, error) {
	if len(b) < 2 {
		return journalKey{}, errors.New("key shorter than its version")
	}
	switch v := int16(binary.BigEndian.Uint16(b)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(b); err != nil {
			return journalKey{}, fmt.Errorf("offset commit key: %v", err)
		}
		return journalKey{group: k.Group, isOffset: true, topic: k.Topic, partition: k.Partition}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(b); err != nil {
			return journalKey{}, fmt.Errorf("group metadata key: %v", err)
		}
		return journalKey{group: k.Group}, nil
	default:
		return journalKey{}, fmt.Errorf("unknown key version %d", v)
	}
}

// canonicalKey re-encodes a key in the version the journal writes, so that
// one partition's offset has one key whatever version wrote it.
func canonicalKey(b []byte) ([]byte, error) {
	k, err := decodeKey(b)
	if err != nil {
		return nil, err
	}
	return k.encode(), nil
}

// checkValue decodes value for the (canonical) key, to refuse bad records
// at replay rather than at first use.
func checkValue(key, value []byte) error {
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	if k.isOffset {
		_, err = decodeOffsetValue(value)
	} else {
		_, err = decodeGroupValue(value)
	}
	return err
}

func encodeOffsetValue(o offsetEntry) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         valueVersionOffset,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMs,
	}
	if o.expireMs >= 0 {
		v.Version = valueVersionOffsetExpire
		v.ExpireTimestamp = o.expireMs
	}
	return v.AppendTo(nil)
}

func decodeOffsetValue(b []byte) (offsetEntry, error) {
	if len(b) < 2 {
		return offsetEntry{}, errors.New("offset value shorter than its version")
	}
	if v := int16(binary.BigEndian.Uint16(b)); v < 0 || v > 4 {
		return offsetEntry{}, fmt.Errorf("unknown offset value version %d", v)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil {
		return offsetEntry{}, fmt.Errorf("offset value: %v", err)
	}
	o := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireMs = v.ExpireTimestamp
	}
	return o, nil
}

func decodeGroupValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	if len(b) < 2 {
		return nil, errors.New("group value shorter than its version")
	}
	if v := int16(binary.BigEndian.Uint16(b)); v < 0 || v > 4 {
		return nil, fmt.Errorf("unknown group value version %d", v)
	}
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("group value: %v", err)
	}
	return v, nil
}
