package sluice

// Backlog of the Kafka source: the group's lag over the configured topics and
// the age of the oldest record not yet committed.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxAgeProbes caps the partitions whose oldest record is fetched per Backlog
// call (those with the largest lag), keeping Backlog cheap on wide topics.
const maxAgeProbes = 16

// Backlog returns the group's lag summed over every partition of the
// configured topics — not only those assigned to this member, since the
// whole group shares the work — and the age of the oldest uncommitted record
// among the (up to 16) partitions with the largest lag.
//
// Lag per partition is log end offset minus the group's committed offset (the
// log start offset when nothing is committed or the commit fell off the
// log), so records in flight count until committed: up to CommitInterval
// after they finish. OldestAge comes from one small Fetch per lagging
// partition at the committed offset and is the timestamp of the first record
// of the batch holding it (with log-append-time topics, the batch's append
// time): at most a producer linger older than the exact record. It is 0 when
// there is no lag or the age cannot be read.
func (s *kafkaSource) Backlog(ctx context.Context) (Backlog, error) {
	adm := kadm.NewClient(s.cl)
	commits, err := adm.FetchOffsets(ctx, s.cfg.Group)
	if err != nil && !isGroupMissing(err) {
		return Backlog{}, fmt.Errorf("sluice: kafka backlog: committed offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, s.cfg.Topics...)
	if err != nil {
		return Backlog{}, fmt.Errorf("sluice: kafka backlog: start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, s.cfg.Topics...)
	if err != nil {
		return Backlog{}, fmt.Errorf("sluice: kafka backlog: end offsets: %w", err)
	}
	type lagging struct {
		topic     string
		partition int32
		pos, lag  int64
	}
	var (
		b       Backlog
		lags    []lagging
		listErr error
	)
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			listErr = e.Err
			return
		}
		pos := int64(0)
		if st, ok := starts.Lookup(e.Topic, e.Partition); ok && st.Err == nil {
			pos = st.Offset
		}
		if c, ok := commits.Lookup(e.Topic, e.Partition); ok && c.Err == nil && c.At >= pos {
			pos = c.At
		}
		if lag := e.Offset - pos; lag > 0 {
			b.Depth += lag
			lags = append(lags, lagging{e.Topic, e.Partition, pos, lag})
		}
	})
	if listErr != nil && b.Depth == 0 {
		return Backlog{}, fmt.Errorf("sluice: kafka backlog: end offsets: %w", listErr)
	}
	if len(lags) == 0 {
		return b, nil
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i].lag > lags[j].lag })
	if len(lags) > maxAgeProbes {
		lags = lags[:maxAgeProbes]
	}
	meta, err := adm.Metadata(ctx, s.cfg.Topics...)
	if err != nil {
		return b, nil // the depth alone is still worth reporting
	}
	now := time.Now()
	for _, l := range lags {
		td, ok := meta.Topics[l.topic]
		if !ok || td.Err != nil {
			continue
		}
		pd, ok := td.Partitions[l.partition]
		if !ok || pd.Leader < 0 {
			continue
		}
		ts, ok := s.recordTime(ctx, pd.Leader, l.topic, td.ID, l.partition, l.pos)
		if !ok {
			continue
		}
		if age := now.Sub(ts); age > b.OldestAge {
			b.OldestAge = age
		}
	}
	return b, nil
}

// isGroupMissing reports errors meaning that the group has no state yet.
func isGroupMissing(err error) bool {
	return errors.Is(err, kerr.GroupIDNotFound) || errors.Is(err, kerr.UnknownMemberID)
}

// recordTime fetches the batch holding offset pos of topic/partition from
// its leader and returns the batch's first record time (see Backlog).
func (s *kafkaSource) recordTime(ctx context.Context, leader int32, topic string, id kadm.TopicID, partition int32, pos int64) (time.Time, bool) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = 1 // the first batch is returned whatever its size
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = pos
	rp.PartitionMaxBytes = 1
	rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := s.cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return time.Time{}, false
	}
	resp, ok := kresp.(*kmsg.FetchResponse)
	if !ok || resp.ErrorCode != 0 {
		return time.Time{}, false
	}
	for _, t := range resp.Topics {
		if t.Topic != topic && t.TopicID != id {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition && p.ErrorCode == 0 {
				return firstBatchTime(p.RecordBatches, pos)
			}
		}
	}
	return time.Time{}, false
}

// Record batch v2 header (big-endian), as far as firstBatchTime reads it:
//
//	baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
//	magic int8 (=2) | crc uint32 | attributes int16 | lastOffsetDelta int32 |
//	firstTimestamp int64 | maxTimestamp int64 | …
const (
	batchHeaderLen      = 43
	batchAttrLogAppend  = 0x08
	batchAttrControl    = 0x20
	batchLengthFieldEnd = 12 // batchLength counts the bytes after this point
)

// firstBatchTime returns the time of the first data batch in raw that holds
// offsets at or past pos. Only the header is read, so compressed and
// truncated batches (a fetch may end mid-batch) are fine.
func firstBatchTime(raw []byte, pos int64) (time.Time, bool) {
	for len(raw) >= batchHeaderLen {
		base := int64(binary.BigEndian.Uint64(raw[0:]))
		length := int64(int32(binary.BigEndian.Uint32(raw[8:])))
		magic := raw[16]
		attrs := int16(binary.BigEndian.Uint16(raw[21:]))
		lastDelta := int64(int32(binary.BigEndian.Uint32(raw[23:])))
		first := int64(binary.BigEndian.Uint64(raw[27:]))
		maxTS := int64(binary.BigEndian.Uint64(raw[35:]))
		if magic != 2 || length < batchHeaderLen-batchLengthFieldEnd {
			return time.Time{}, false // an old message set or garbage: no reliable time
		}
		if base+lastDelta >= pos && attrs&batchAttrControl == 0 {
			ts := first
			if attrs&batchAttrLogAppend != 0 {
				ts = maxTS
			}
			if ts < 0 {
				return time.Time{}, false
			}
			return time.UnixMilli(ts), true
		}
		next := batchLengthFieldEnd + length
		if next > int64(len(raw)) {
			return time.Time{}, false
		}
		raw = raw[next:]
	}
	return time.Time{}, false
}
