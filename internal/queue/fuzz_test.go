package queue

import (
	"bytes"
	"testing"
)

// FuzzJournal feeds arbitrary bytes to the journal frame walker and record
// decoder: they must never panic, and every record that decodes must
// encode back to the same bytes.
func FuzzJournal(f *testing.F) {
	l := leaseRec{offset: 7, leaseSeq: 3, visibleAt: 1000, leaseStart: 900, firstRecv: 800, sentMs: 700, recvCount: 2, group: "g"}
	for _, body := range [][]byte{
		leaseBody(nil, recLease, 0, &l),
		leaseBody(nil, recCopy, 5, &l),
		visibilityBody(nil, 9, 4, 12345),
		deleteBody(nil, []int64{1, 5, 9}),
		purgeBody(nil, 100),
	} {
		j := &journal{}
		j.add(body)
		f.Add(j.buf)
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = forEachJournalFrame(b, func(body []byte) error {
			_, _ = decodeJournalRecord(body)
			return nil
		})
		r, err := decodeJournalRecord(b)
		if err != nil {
			return
		}
		var again []byte
		switch r.typ {
		case recLease, recCopy:
			again = leaseBody(nil, r.typ, r.offset, &r.lease)
		case recVisibility:
			again = visibilityBody(nil, r.offset, r.seq, r.visible)
		case recDelete:
			again = deleteBody(nil, r.offsets)
		case recPurge:
			again = purgeBody(nil, r.offset)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("record %x decodes to %+v which encodes to %x", b, r, again)
		}
	})
}

// FuzzSnapshot: the snapshot decoder never panics, and what it accepts
// re-encodes to a snapshot that decodes to the same state.
func FuzzSnapshot(f *testing.F) {
	st := newDeliveryState(3)
	for _, o := range []int64{5, 6, 7, 70, 200} {
		st.del.add(o)
	}
	st.tracked[4] = &entry{offset: 4, leaseSeq: 9, visibleAt: 5, recvCount: 2, group: "x"}
	st.nextSeq = 10
	f.Add(encodeSnapshot(&snapshot{gen: 2}, &st))
	empty := newDeliveryState(0)
	f.Add(encodeSnapshot(&snapshot{gen: 1}, &empty))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		st := newDeliveryState(s.floor)
		st.nextSeq = s.nextSeq
		for _, r := range s.runs {
			if r[1] > 1<<16 {
				return // a valid but huge run: not worth expanding here
			}
			for o := r[0]; o < r[0]+r[1]; o++ {
				st.del.add(o)
			}
		}
		for i := range s.entries {
			st.restoreLease(&s.entries[i])
		}
		s2, err := decodeSnapshot(encodeSnapshot(&snapshot{gen: s.gen, key: s.key}, &st))
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if s2.gen != s.gen || s2.key != s.key || s2.nextSeq != st.nextSeq {
			t.Fatalf("header changed: %+v vs %+v", s2, s)
		}
		// The set of done offsets is the same.
		var n1, n2 int64
		for _, r := range s.runs {
			if r[0] >= st.del.floor {
				n1 += r[1]
			}
		}
		for _, r := range s2.runs {
			n2 += r[1]
		}
		if s2.floor != st.del.floor || n2 > n1 {
			t.Fatalf("runs changed: floor %d/%d, %d/%d done", s2.floor, st.del.floor, n2, n1)
		}
	})
}

// FuzzRecordValue: message records and batches from the log never panic
// the decoders, and a value that decodes re-encodes to a value that
// decodes to the same message.
func FuzzRecordValue(f *testing.F) {
	s := "v"
	m := storedMessage{sentMs: 5, visibleAt: 6, group: "g", dedup: "d", trace: "t", dlqSource: "q", seq: "1", copy: true,
		attrs: map[string]MessageAttributeValue{"a": {DataType: "String", StringValue: &s}, "b": {DataType: "Binary", BinaryValue: []byte{1}}}, body: "body"}
	f.Add(appendValue(nil, &m), false)
	b := new(batchBuilder)
	b.reset()
	b.add(&m)
	m.body = "second"
	b.add(&m)
	f.Add(b.finish(), true)
	f.Fuzz(func(t *testing.T, data []byte, asBatch bool) {
		if asBatch {
			_, _, _ = batchRange(data)
			_ = forEachRecord(data, 0, func(r *logRecord) bool {
				var m storedMessage
				_ = decodeValue(r.value, r.ts, true, &m)
				return true
			})
			return
		}
		var m1, m2 storedMessage
		if decodeValue(data, 1, true, &m1) != nil {
			return
		}
		if err := decodeValue(appendValue(nil, &m1), 1, true, &m2); err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if m1.body != m2.body || m1.id != m2.id || m1.group != m2.group || len(m1.attrs) != len(m2.attrs) || m1.copy != m2.copy {
			t.Fatalf("round trip changed the message: %+v vs %+v", m1, m2)
		}
	})
}

// FuzzReceiptHandle: arbitrary strings are rejected without panicking
// (and, with overwhelming probability, never accepted).
func FuzzReceiptHandle(f *testing.F) {
	var key [32]byte
	mac := newHandleMAC(&key)
	f.Add(makeHandle(mac, 5, 7))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, h string) {
		off, seq, ok := parseHandle(mac, h)
		if ok && makeHandle(mac, off, seq) != h {
			t.Fatalf("accepted %q, which is not the handle of (%d, %d)", h, off, seq)
		}
	})
}
