package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func seedBatches(tb testing.TB) [][]byte {
	var seeds [][]byte
	seeds = append(seeds,
		simpleBatch(tb, 1, 0, 1, 1),
		simpleBatch(tb, 5, 30, 1700000000000, 2),
		encodeBatch(tb, batchSpec{FirstTs: 5, Records: []testRecord{
			{Key: nil, Value: nil},
			{Key: []byte("k"), Value: []byte("v"), TsDelta: -3, Headers: []kmsg.Header{{Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}},
		}}),
		encodeBatch(tb, batchSpec{FirstTs: 9, Gzip: true, Records: []testRecord{{Value: []byte("compressed")}, {Value: []byte("too")}}}),
	)
	n := len(seeds)
	for i := 0; i < n; i++ {
		b := seeds[i]
		seeds = append(seeds, b[:len(b)-1], b[:batchHeaderSize], b[:30], append(bytes.Clone(b), 0))
	}
	return seeds
}

// repairBatch makes the length and CRC of b consistent, so that the
// fuzzer reaches the record walk.
func repairBatch(b []byte) []byte {
	if len(b) < batchHeaderSize {
		return nil
	}
	c := bytes.Clone(b)
	c[16] = 2
	binary.BigEndian.PutUint32(c[8:], uint32(len(c)-12))
	binary.BigEndian.PutUint32(c[17:], crc32.Checksum(c[crcStart:], castagnoli))
	return c
}

func FuzzValidateBatch(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseBatchHeader(b)
		for _, in := range [][]byte{b, repairBatch(b)} {
			h, err := ValidateBatch(in)
			if err != nil {
				if !errors.Is(err, ErrCorruptBatch) {
					t.Fatalf("error %v does not wrap ErrCorruptBatch", err)
				}
				continue
			}
			if int(h.BatchLength)+12 != len(in) || h.Magic != 2 || h.NumRecords != h.LastOffsetDelta+1 ||
				crc32.Checksum(in[crcStart:], castagnoli) != h.CRC {
				t.Fatalf("accepted an inconsistent batch: %+v", h)
			}
			// The log's base offset rewrite keeps a batch valid.
			c := bytes.Clone(in)
			binary.BigEndian.PutUint64(c, 1<<40)
			if _, err := ValidateBatch(c); err != nil {
				t.Fatalf("rewritten base offset: %v", err)
			}
			if h.Attributes&attrCodecMask == 0 {
				n := int32(0)
				recordTimestamps(in, &h, func(d int32, _ int64) bool {
					if d != n {
						t.Fatalf("record %d has offset delta %d", n, d)
					}
					n++
					return true
				})
				if n != h.NumRecords {
					t.Fatalf("walked %d records of %d", n, h.NumRecords)
				}
			}
		}
	})
}

// FuzzRecovery appends arbitrary bytes to a segment of whole batches:
// Open must never fail or panic, must keep every whole batch, and must
// serve only valid ones.
func FuzzRecovery(f *testing.F) {
	var prefix []byte
	var end int64
	for i, b := range [][]byte{simpleBatch(f, 2, 40, 10, 1), simpleBatch(f, 3, 10, 20, 2)} {
		prefix = append(prefix, withBase(b, end)...)
		h, _ := ParseBatchHeader(b)
		end += int64(h.LastOffsetDelta) + 1
		_ = i
	}
	next := withBase(simpleBatch(f, 1, 20, 30, 3), end)
	f.Add([]byte{})
	f.Add(next)
	f.Add(next[:40])
	f.Add(next[:len(next)-2])
	f.Add(append(bytes.Clone(next), make([]byte, 100)...))
	f.Add(repairBatch(append(bytes.Clone(next[:batchHeaderSize]), 1, 2, 3)))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), append(bytes.Clone(prefix), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Config{Flush: FlushNone, Logger: quietLogger(), IndexIntervalBytes: 64})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if l.EndOffset() < end {
			t.Fatalf("end offset %d < %d: a whole batch was dropped", l.EndOffset(), end)
		}
		got := readAll(t, l) // checks every batch served
		if !bytes.Equal(bytes.Join(got[:2], nil), prefix) {
			t.Fatal("whole batches changed")
		}
	})
}
