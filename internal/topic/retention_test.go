package topic

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// oneRecordBatch encodes a v2 record batch holding one record with
// timestamp ts, as a Kafka producer would send it.
func oneRecordBatch(ts int64, value []byte) []byte {
	rec := kmsg.Record{Value: value}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // Length 0 encodes as one byte
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		Records: rec.AppendTo(nil),
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestRetentionLoopDeletesOldSegments checks that the registry's retention
// goroutine applies a topic's retention.ms to its logs.
func TestRetentionLoopDeletesOldSegments(t *testing.T) {
	t.Parallel()
	e := &env{t: t, dir: t.TempDir(), defaults: Defaults{RetentionCheckInterval: 10 * time.Millisecond}}
	e.open()
	t.Cleanup(e.close)
	tp := e.create("old", 1, map[string]string{"retention.ms": "60000", "segment.bytes": "200"})
	kept := e.create("forever", 1, map[string]string{"retention.ms": "-1", "segment.bytes": "200"})
	old := time.Now().Add(-time.Hour).UnixMilli()
	for _, topic := range []*Topic{tp, kept} {
		for i := range 6 {
			if _, err := topic.Partition(0).Append(oneRecordBatch(old, make([]byte, 100)), logstore.AppendOptions{}); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tp.Partition(0).StartOffset() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retention did not delete old segments within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if kept.Partition(0).StartOffset() != 0 {
		t.Fatal("retention.ms=-1 topic lost data")
	}
	if end := tp.Partition(0).EndOffset(); end != 6 {
		t.Fatalf("end offset %d, want 6", end)
	}
}
