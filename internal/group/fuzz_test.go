package group

import (
	"bytes"
	"testing"
	"time"
)

// FuzzJournalRecord feeds arbitrary keys and values to the journal's
// record decoders: they must never panic, and what decodes must encode
// back to something that decodes to the same.
func FuzzJournalRecord(f *testing.F) {
	f.Add(journalKey{group: "g", isOffset: true, topic: "t", partition: 3}.encode(), encodeOffsetValue(offsetEntry{offset: 5, leaderEpoch: 1, metadata: "m", commitMs: 7, expireMs: -1}))
	f.Add(journalKey{group: "g", isOffset: true, topic: "t"}.encode(), encodeOffsetValue(offsetEntry{offset: 5, commitMs: 7, expireMs: 9}))
	g := newGroup("g", time.Unix(0, 0))
	g.add(&member{id: "m1", instanceID: "i", protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t")}}, assignment: []byte("a")})
	g.protocol, g.protocolType = "range", "consumer"
	rec := g.metadataRecord(nil)
	f.Add(rec.key, rec.value)
	f.Add([]byte{0, 2}, []byte{0, 3})
	f.Add([]byte{}, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		k, err := decodeKey(key)
		if err != nil {
			return
		}
		k2, err := decodeKey(k.encode())
		if err != nil || k2 != k {
			t.Fatalf("key does not round-trip: %+v / %+v %v", k, k2, err)
		}
		if k.isOffset {
			o, err := decodeOffsetValue(value)
			if err != nil {
				return
			}
			o2, err := decodeOffsetValue(encodeOffsetValue(o))
			if err != nil || o2.offset != o.offset || o2.metadata != o.metadata || o2.commitMs != o.commitMs {
				t.Fatalf("offset value does not round-trip: %+v / %+v %v", o, o2, err)
			}
			return
		}
		v, err := decodeGroupValue(value)
		if err != nil {
			return
		}
		if _, err := decodeGroupValue(v.AppendTo(nil)); err != nil {
			t.Fatalf("group value does not round-trip: %v", err)
		}
	})
}

// FuzzWalkBatch feeds arbitrary bytes to the batch walker used by replay.
func FuzzWalkBatch(f *testing.F) {
	f.Add(appendBatch(nil, []kv{{key: []byte("k"), value: []byte("v")}, {key: []byte("k2")}}, 1))
	f.Add(appendBatch(nil, nil, 1))
	b := appendBatch(nil, []kv{{key: []byte("key"), value: bytes.Repeat([]byte("x"), 300)}}, 1)
	f.Add(b[:len(b)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, err := walkBatch(b, func(int64, []byte, []byte) error { return nil })
		if err == nil && (n < batchHeaderSize || n > len(b)) {
			t.Fatalf("walkBatch consumed %d of %d bytes", n, len(b))
		}
	})
}
