package logstore

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecord is one record for encodeBatch.
type testRecord struct {
	Key, Value []byte
	TsDelta    int64
	Headers    []kmsg.Header
}

// batchSpec describes a batch for encodeBatch.
type batchSpec struct {
	FirstTs    int64
	Records    []testRecord
	Gzip       bool
	ProducerID int64
}

// encodeBatch builds a v2 record batch exactly as a Kafka client sends it
// (base offset 0, CRC-32C over attributes..end), using kmsg's encoders.
func encodeBatch(tb testing.TB, spec batchSpec) []byte {
	tb.Helper()
	b, err := buildBatch(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func buildBatch(spec batchSpec) ([]byte, error) {
	var recs []byte
	maxTs := spec.FirstTs
	for i, r := range spec.Records {
		rec := kmsg.Record{
			TimestampDelta64: r.TsDelta,
			TimestampDelta:   int32(r.TsDelta),
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
			Headers:          r.Headers,
		}
		body := rec.AppendTo(nil) // Length 0 encodes as one byte
		rec.Length = int32(len(body) - 1)
		recs = rec.AppendTo(recs)
		if ts := spec.FirstTs + r.TsDelta; ts > maxTs {
			maxTs = ts
		}
	}
	var attrs int16
	if spec.Gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		if _, err := zw.Write(recs); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		recs = zb.Bytes()
		attrs = 1
	}
	pid := spec.ProducerID
	if pid == 0 {
		pid = -1
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(spec.Records) - 1),
		FirstTimestamp:       spec.FirstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           pid,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(spec.Records)),
		Records:              recs,
	}
	rb.Length = int32(batchLengthMin + len(recs))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b, nil
}

// simpleBatch is n records with values of valueSize bytes derived from
// seed, all at timestamp ts.
func simpleBatch(tb testing.TB, n, valueSize int, ts int64, seed int) []byte {
	tb.Helper()
	spec := batchSpec{FirstTs: ts}
	for i := 0; i < n; i++ {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(seed*31 + i*7 + j)
		}
		spec.Records = append(spec.Records, testRecord{Key: []byte{byte(seed), byte(i)}, Value: v})
	}
	return encodeBatch(tb, spec)
}

// withBase returns a copy of b with its base offset set, as the log
// stores it.
func withBase(b []byte, base int64) []byte {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint64(c, uint64(base))
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeClock is a settable Config.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func mustOpen(tb testing.TB, dir string, cfg Config) *Log {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	l, err := Open(dir, cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return l
}

func mustAppend(tb testing.TB, l *Log, b []byte) AppendResult {
	tb.Helper()
	res, err := l.Append(b, AppendOptions{})
	if err != nil {
		tb.Fatalf("Append: %v", err)
	}
	return res
}

// readAll reads every batch from the start offset to the high watermark.
func readAll(tb testing.TB, l *Log) [][]byte {
	tb.Helper()
	var out [][]byte
	off := l.StartOffset()
	for off < l.HighWatermark() {
		c, err := l.Read(off, 1<<20)
		if err != nil {
			tb.Fatalf("Read(%d): %v", off, err)
		}
		data, err := c.AppendTo(nil)
		c.Release()
		if err != nil {
			tb.Fatal(err)
		}
		if len(data) == 0 {
			tb.Fatalf("Read(%d): empty chunk below the high watermark %d", off, l.HighWatermark())
		}
		for len(data) > 0 {
			h, err := ValidateBatch(data[:12+binary.BigEndian.Uint32(data[8:])])
			if err != nil {
				tb.Fatalf("batch read back at %d: %v", off, err)
			}
			out = append(out, data[:h.BatchLength+12])
			data = data[h.BatchLength+12:]
			off = h.BaseOffset + int64(h.LastOffsetDelta) + 1
		}
	}
	return out
}
