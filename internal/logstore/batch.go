package logstore

// Kafka v2 record batches (KIP-98), as producers send them and as segment
// files hold them. All integers are big-endian.
//
//	off len field
//	  0   8 baseOffset            assigned by the log (rewritten in place)
//	  8   4 batchLength           bytes after this field
//	 12   4 partitionLeaderEpoch
//	 16   1 magic                 2
//	 17   4 crc                   CRC-32C (Castagnoli) of bytes 21..end
//	 21   2 attributes            bits 0-2 codec, 3 timestamp type,
//	                              4 transactional, 5 control
//	 23   4 lastOffsetDelta
//	 27   8 baseTimestamp         (first record's timestamp)
//	 35   8 maxTimestamp
//	 43   8 producerId
//	 51   2 producerEpoch
//	 53   4 baseSequence
//	 57   4 recordCount
//	 61     records               compressed as a whole when codec != 0
//
// Each uncompressed record is: length varint, attributes int8,
// timestampDelta varlong, offsetDelta varint, keyLength varint, key,
// valueLength varint, value, headerCount varint, then per header
// keyLength varint, key, valueLength varint, value. Varints are zigzag
// (protobuf sint) encoded, which is what encoding/binary.Varint reads.
//
// Because the CRC starts at attributes, rewriting baseOffset (and
// partitionLeaderEpoch) never invalidates it.

import (
	"encoding/binary"
	"hash/crc32"
)

const (
	batchHeaderSize = 61
	// batchLengthMin is the smallest legal batchLength: the header after
	// the length field, with no records.
	batchLengthMin = batchHeaderSize - 12
	crcStart       = 21

	attrCodecMask        = 0x07
	attrLogAppendTime    = 0x08
	maxCodec             = 4 // zstd
	recordOverheadMinLen = 7 // attrs + 5 one-byte varints + header count
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseBatchHeader decodes the 61-byte header at the start of b without
// checking the CRC or the records. For a batch whose magic is not 2 it
// returns the fields that precede magic and a *BatchError, so a caller can
// tell an old message format from garbage.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) < 17 {
		return h, &BatchError{Reason: "shorter than a batch header"}
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[0:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[8:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[12:]))
	h.Magic = int8(b[16])
	if h.Magic != 2 {
		return h, &BatchError{Reason: "magic is not 2"}
	}
	if len(b) < batchHeaderSize {
		return h, &BatchError{Reason: "shorter than a batch header"}
	}
	h.CRC = binary.BigEndian.Uint32(b[17:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[21:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[23:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[27:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[35:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[43:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[51:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[53:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[57:]))
	return h, nil
}

// ValidateBatch checks that b is exactly one well-formed v2 record batch:
// lengths, magic 2, CRC-32C, record count against lastOffsetDelta, a known
// compression codec, and for uncompressed batches every record's framing
// (without allocating). Compressed records are not decompressed.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, _, err := validateBatch(b)
	return h, err
}

// validateBatch is ValidateBatch that also returns the offset delta of the
// first record holding the batch's largest record timestamp (the batch's
// last offset delta when that cannot be known without decompressing).
func validateBatch(b []byte) (h BatchHeader, maxTsDelta int32, err error) {
	h, err = ParseBatchHeader(b)
	if err != nil {
		return h, 0, err
	}
	if h.BatchLength < batchLengthMin {
		return h, 0, &BatchError{Reason: "batch length smaller than the header"}
	}
	if int64(h.BatchLength)+12 != int64(len(b)) {
		return h, 0, &BatchError{Reason: "batch length does not match the bytes given"}
	}
	if crc32.Checksum(b[crcStart:], castagnoli) != h.CRC {
		return h, 0, &BatchError{Reason: "CRC-32C mismatch"}
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return h, 0, &BatchError{Reason: "record count does not match lastOffsetDelta"}
	}
	codec := h.Attributes & attrCodecMask
	if codec > maxCodec {
		return h, 0, &BatchError{Reason: "unknown compression codec"}
	}
	if codec != 0 {
		return h, h.LastOffsetDelta, nil
	}
	if int64(h.NumRecords)*recordOverheadMinLen > int64(len(b)-batchHeaderSize) {
		return h, 0, &BatchError{Reason: "record count larger than the records could hold"}
	}
	maxTsDelta, reason := walkRecords(b[batchHeaderSize:], h.NumRecords, h.Attributes&attrLogAppendTime != 0)
	if reason != "" {
		return h, 0, &BatchError{Reason: reason}
	}
	return h, maxTsDelta, nil
}

// walkRecords checks the framing of n uncompressed records filling recs
// exactly, each with offsetDelta equal to its index. It returns the offset
// delta of the first record with the largest timestamp delta, or a reason.
func walkRecords(recs []byte, n int32, logAppendTime bool) (int32, string) {
	var maxTs int64
	var maxAt int32
	for i := int32(0); i < n; i++ {
		length, k := binary.Varint(recs)
		if k <= 0 || length <= 0 || length > int64(len(recs)-k) {
			return 0, "bad record length"
		}
		r := recs[k : k+int(length)]
		recs = recs[k+int(length):]
		ts, od, reason := walkRecord(r)
		if reason != "" {
			return 0, reason
		}
		if od != int64(i) {
			return 0, "record offset deltas are not consecutive"
		}
		if i == 0 || ts > maxTs {
			maxTs, maxAt = ts, i
		}
	}
	if len(recs) != 0 {
		return 0, "bytes after the last record"
	}
	if logAppendTime {
		// Every record carries the batch's MaxTimestamp.
		return 0, ""
	}
	return maxAt, ""
}

// walkRecord checks one record's body (after its length) and returns its
// timestamp delta and offset delta.
func walkRecord(r []byte) (tsDelta, offsetDelta int64, reason string) {
	if len(r) < 1 {
		return 0, 0, "empty record"
	}
	r = r[1:] // attributes, unused
	var k int
	if tsDelta, k = binary.Varint(r); k <= 0 {
		return 0, 0, "bad record timestamp delta"
	}
	r = r[k:]
	if offsetDelta, k = binary.Varint(r); k <= 0 || offsetDelta < 0 || offsetDelta > 1<<31-1 {
		return 0, 0, "bad record offset delta"
	}
	r = r[k:]
	if r, reason = skipBytes(r, true, "key"); reason != "" {
		return 0, 0, reason
	}
	if r, reason = skipBytes(r, true, "value"); reason != "" {
		return 0, 0, reason
	}
	nh, k := binary.Varint(r)
	if k <= 0 || nh < 0 || nh > int64(len(r)) {
		return 0, 0, "bad record header count"
	}
	r = r[k:]
	for j := int64(0); j < nh; j++ {
		if r, reason = skipBytes(r, false, "header key"); reason != "" {
			return 0, 0, reason
		}
		if r, reason = skipBytes(r, true, "header value"); reason != "" {
			return 0, 0, reason
		}
	}
	if len(r) != 0 {
		return 0, 0, "record length does not match its fields"
	}
	return tsDelta, offsetDelta, ""
}

// skipBytes skips a varint-length-prefixed byte string (-1 = null when
// nullable).
func skipBytes(r []byte, nullable bool, what string) ([]byte, string) {
	n, k := binary.Varint(r)
	if k <= 0 {
		return nil, "bad record " + what + " length"
	}
	r = r[k:]
	if n == -1 && nullable {
		return r, ""
	}
	if n < 0 || n > int64(len(r)) {
		return nil, "bad record " + what + " length"
	}
	return r[n:], ""
}

// recordTimestamps calls fn with each record's offset delta and timestamp
// for an uncompressed batch b already known to be valid. It stops when fn
// returns false.
func recordTimestamps(b []byte, h *BatchHeader, fn func(offsetDelta int32, ts int64) bool) {
	recs := b[batchHeaderSize:]
	for i := int32(0); i < h.NumRecords && len(recs) > 0; i++ {
		length, k := binary.Varint(recs)
		if k <= 0 || length <= 1 || length > int64(len(recs)-k) {
			return
		}
		r := recs[k+1 : k+int(length)] // past attributes
		recs = recs[k+int(length):]
		tsd, k2 := binary.Varint(r)
		if k2 <= 0 {
			return
		}
		ts := h.FirstTimestamp + tsd
		if h.Attributes&attrLogAppendTime != 0 {
			ts = h.MaxTimestamp
		}
		if !fn(i, ts) {
			return
		}
	}
}
