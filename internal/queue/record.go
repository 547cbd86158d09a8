package queue

// Message log format
// ==================
//
// Each queue keeps its messages in a logstore.Log at
// <data-dir>/queues/<name>/msgs. One Send call appends one Kafka v2 record
// batch (see internal/logstore/batch.go for the batch layout), so a send
// is acknowledged after the single fsync that covers its batch, and
// concurrent senders share fsyncs (the log's group commit). Sluice builds
// the batches itself, uncompressed:
//
//	batch: baseOffset (assigned by the log), partitionLeaderEpoch 0,
//	       magic 2, CRC-32C, attributes 0 (CreateTime, no codec),
//	       baseTimestamp = timestamp of the first record,
//	       maxTimestamp = largest record timestamp, producerId -1,
//	       producerEpoch -1, baseSequence -1, one record per message.
//	record: attributes 0, timestamp = the time the message first becomes
//	        visible (sent time + delay, ms since the epoch), key null,
//	        value = the message encoding below, no headers.
//
// The record timestamp being the visible-at time is deliberate: a batch
// whose maxTimestamp is in the future holds delayed messages, so recovery
// finds them from batch headers alone (see recoverDelayedLocked), and
// OffsetForTimestamp bounds the scan for the FIFO deduplication window.
//
// Message encoding (the record value), version 1, big-endian:
//
//	off len   field
//	  0   1   version (1)
//	  1   1   flags: 0x01 group id, 0x02 deduplication id, 0x04 trace
//	          header, 0x08 dead-letter source queue name, 0x10 original
//	          sequence number (each of these means the string is present
//	          below); 0x20 a copy made by copy-forward (receive.go), which
//	          is delivered only once a journal copy record names it
//	  2  16   message ID (a random UUID, shown in the 8-4-4-4-12 form)
//	 18   8   sent timestamp, ms since the epoch (kept when the message is
//	          moved to a dead-letter queue, redriven or copied forward)
//	 26   …   the flagged strings in flag order, each uvarint length + bytes
//	      …   uvarint attribute count, then per attribute: name, data type
//	          (uvarint length + bytes each), 1 byte kind (0 string,
//	          1 binary), value (uvarint length + bytes)
//	      …   the body: every remaining byte of the value
//
// A FIFO message's SequenceNumber is derived from its offset
// (sequenceBase + offset, 20 decimal digits), so it is never stored except
// when a message is moved (flag 0x10 keeps the sequence number it had).

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strconv"
)

const (
	recordVersion = 1

	flagGroup     = 0x01
	flagDedup     = 0x02
	flagTrace     = 0x04
	flagDLQSource = 0x08
	flagSeq       = 0x10
	flagCopy      = 0x20 // a copy made by copy-forward: delivered only through its journal record
	flagsKnown    = 0x3f

	batchHeaderLen = 61
	valueFixedLen  = 26

	// sequenceBase makes every sequence number 20 digits long, as AWS's
	// are, while staying inside uint64.
	sequenceBase uint64 = 10_000_000_000_000_000_000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord reports a record of the message log that does not decode.
// The log's CRC protects the bytes, so this means a bug or a foreign file.
var errBadRecord = errors.New("queue: undecodable message record")

// storedMessage is a message as the log holds it.
type storedMessage struct {
	id        [16]byte
	sentMs    int64
	visibleAt int64 // the record timestamp
	group     string
	dedup     string
	trace     string
	dlqSource string // queue the message was dead-lettered from
	seq       string // original sequence number of a moved message
	copy      bool   // written by copy-forward
	attrs     map[string]MessageAttributeValue
	body      string
}

// appendValue encodes m's record value onto dst.
func appendValue(dst []byte, m *storedMessage) []byte {
	var flags byte
	if m.group != "" {
		flags |= flagGroup
	}
	if m.dedup != "" {
		flags |= flagDedup
	}
	if m.trace != "" {
		flags |= flagTrace
	}
	if m.dlqSource != "" {
		flags |= flagDLQSource
	}
	if m.seq != "" {
		flags |= flagSeq
	}
	if m.copy {
		flags |= flagCopy
	}
	dst = append(dst, recordVersion, flags)
	dst = append(dst, m.id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.sentMs))
	for _, s := range []string{m.group, m.dedup, m.trace, m.dlqSource, m.seq} {
		if s != "" {
			dst = appendString(dst, s)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.attrs)))
	for name, v := range m.attrs {
		dst = appendString(dst, name)
		dst = appendString(dst, v.DataType)
		if v.StringValue != nil {
			dst = append(dst, 0)
			dst = appendString(dst, *v.StringValue)
		} else {
			dst = append(dst, 1)
			dst = binary.AppendUvarint(dst, uint64(len(v.BinaryValue)))
			dst = append(dst, v.BinaryValue...)
		}
	}
	return append(dst, m.body...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// valueReader walks a record value without panicking on bad input.
type valueReader struct {
	b   []byte
	bad bool
}

func (r *valueReader) bytes() []byte {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.bad = true
		return nil
	}
	out := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return out
}

func (r *valueReader) str() string { return string(r.bytes()) }

// decodeValue decodes a record value. With full false only the fixed part
// and the flagged strings are decoded (enough to schedule a message), not
// the attributes and the body.
func decodeValue(v []byte, visibleAt int64, full bool, m *storedMessage) error {
	if len(v) < valueFixedLen || v[0] != recordVersion || v[1]&^flagsKnown != 0 {
		return errBadRecord
	}
	flags := v[1]
	*m = storedMessage{visibleAt: visibleAt, copy: flags&flagCopy != 0}
	copy(m.id[:], v[2:18])
	m.sentMs = int64(binary.BigEndian.Uint64(v[18:26]))
	r := valueReader{b: v[valueFixedLen:]}
	if flags&flagGroup != 0 {
		m.group = r.str()
	}
	if flags&flagDedup != 0 {
		m.dedup = r.str()
	}
	if flags&flagTrace != 0 {
		m.trace = r.str()
	}
	if flags&flagDLQSource != 0 {
		m.dlqSource = r.str()
	}
	if flags&flagSeq != 0 {
		m.seq = r.str()
	}
	if r.bad {
		return errBadRecord
	}
	if !full {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)) {
		return errBadRecord
	}
	r.b = r.b[k:]
	if n > 0 {
		m.attrs = make(map[string]MessageAttributeValue, n)
	}
	for i := uint64(0); i < n; i++ {
		name := r.str()
		dt := r.str()
		if r.bad || len(r.b) < 1 {
			return errBadRecord
		}
		kind := r.b[0]
		r.b = r.b[1:]
		val := r.bytes()
		if r.bad {
			return errBadRecord
		}
		switch kind {
		case 0:
			s := string(val)
			m.attrs[name] = MessageAttributeValue{DataType: dt, StringValue: &s}
		case 1:
			m.attrs[name] = MessageAttributeValue{DataType: dt, BinaryValue: append([]byte{}, val...)}
		default:
			return errBadRecord
		}
	}
	m.body = string(r.b)
	return nil
}

// messageIDString formats a message ID as a UUID.
func messageIDString(id [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return string(b[:])
}

// sequenceNumber is the FIFO sequence number of the message at offset.
func sequenceNumber(offset int64) string {
	return strconv.FormatUint(sequenceBase+uint64(offset), 10)
}

// batchBuilder builds one record batch. Reuse it with reset.
type batchBuilder struct {
	buf   []byte
	n     int32
	first int64 // base timestamp
	maxTs int64
	val   []byte // scratch for one value
}

func (b *batchBuilder) reset() {
	b.buf = append(b.buf[:0], make([]byte, batchHeaderLen)...)
	b.n = 0
}

// add appends one message as the next record.
func (b *batchBuilder) add(m *storedMessage) {
	if b.n == 0 {
		b.first, b.maxTs = m.visibleAt, m.visibleAt
	}
	b.maxTs = max(b.maxTs, m.visibleAt)
	b.val = appendValue(b.val[:0], m)
	var rec [4 * binary.MaxVarintLen64]byte
	r := rec[:1] // attributes
	r = binary.AppendVarint(r, m.visibleAt-b.first)
	r = binary.AppendVarint(r, int64(b.n))
	r = binary.AppendVarint(r, -1) // null key
	r = binary.AppendVarint(r, int64(len(b.val)))
	length := len(r) + len(b.val) + 1 // + header count
	b.buf = binary.AppendVarint(b.buf, int64(length))
	b.buf = append(b.buf, r...)
	b.buf = append(b.buf, b.val...)
	b.buf = binary.AppendVarint(b.buf, 0)
	b.n++
}

// finish fills in the header and returns the batch (valid until reset).
func (b *batchBuilder) finish() []byte {
	h := b.buf[:batchHeaderLen]
	binary.BigEndian.PutUint64(h[0:], 0)
	binary.BigEndian.PutUint32(h[8:], uint32(len(b.buf)-12))
	binary.BigEndian.PutUint32(h[12:], 0)
	h[16] = 2
	binary.BigEndian.PutUint16(h[21:], 0)
	binary.BigEndian.PutUint32(h[23:], uint32(b.n-1))
	binary.BigEndian.PutUint64(h[27:], uint64(b.first))
	binary.BigEndian.PutUint64(h[35:], uint64(b.maxTs))
	binary.BigEndian.PutUint64(h[43:], ^uint64(0)) // producerId -1
	binary.BigEndian.PutUint16(h[51:], 0xffff)     // producerEpoch -1
	binary.BigEndian.PutUint32(h[53:], 0xffffffff) // baseSequence -1
	binary.BigEndian.PutUint32(h[57:], uint32(b.n))
	binary.BigEndian.PutUint32(h[17:], crc32.Checksum(b.buf[21:], castagnoli))
	return b.buf
}

// logRecord is one record found in log bytes.
type logRecord struct {
	offset int64
	ts     int64
	value  []byte // aliases the read buffer
}

// forEachRecord walks the records of the whole batches in b (as a Chunk
// holds them), calling fn for each record at or after from, until fn
// returns false. It reports bytes it cannot decode as errBadRecord.
func forEachRecord(b []byte, from int64, fn func(r *logRecord) bool) error {
	var rec logRecord
	for len(b) > 0 {
		if len(b) < batchHeaderLen {
			return errBadRecord
		}
		base := int64(binary.BigEndian.Uint64(b[0:]))
		blen := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if blen < batchHeaderLen-12 || blen+12 > int64(len(b)) || b[16] != 2 {
			return errBadRecord
		}
		batch := b[:blen+12]
		b = b[blen+12:]
		if binary.BigEndian.Uint16(batch[21:])&0x07 != 0 {
			return errBadRecord // Sluice never compresses message batches
		}
		last := base + int64(binary.BigEndian.Uint32(batch[23:]))
		if last < from {
			continue
		}
		firstTs := int64(binary.BigEndian.Uint64(batch[27:]))
		n := int(binary.BigEndian.Uint32(batch[57:]))
		recs := batch[batchHeaderLen:]
		for i := 0; i < n; i++ {
			length, k := binary.Varint(recs)
			if k <= 0 || length < 1 || length > int64(len(recs)-k) {
				return errBadRecord
			}
			r := recs[k+1 : k+int(length)]
			recs = recs[k+int(length):]
			tsd, k1 := binary.Varint(r)
			if k1 <= 0 {
				return errBadRecord
			}
			r = r[k1:]
			od, k2 := binary.Varint(r)
			if k2 <= 0 {
				return errBadRecord
			}
			r = r[k2:]
			kl, k3 := binary.Varint(r)
			if k3 <= 0 || kl > int64(len(r)-k3) {
				return errBadRecord
			}
			r = r[k3+max(int(kl), 0):]
			vl, k4 := binary.Varint(r)
			if k4 <= 0 || vl < 0 || vl > int64(len(r)-k4) {
				return errBadRecord
			}
			off := base + od
			if off < from {
				continue
			}
			rec = logRecord{offset: off, ts: firstTs + tsd, value: r[k4 : k4+int(vl)]}
			if !fn(&rec) {
				return nil
			}
		}
	}
	return nil
}

// batchRange returns the first offset and one past the last offset of the
// whole batches in b.
func batchRange(b []byte) (start, end int64, ok bool) {
	start = -1
	for len(b) >= batchHeaderLen {
		base := int64(binary.BigEndian.Uint64(b))
		blen := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if blen < batchHeaderLen-12 || blen+12 > int64(len(b)) {
			return 0, 0, false
		}
		if start < 0 {
			start = base
		}
		end = base + int64(binary.BigEndian.Uint32(b[23:])) + 1
		b = b[blen+12:]
	}
	return start, end, start >= 0
}
