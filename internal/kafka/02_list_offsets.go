package kafka

// ListOffsets (key 2), versions 0-8 served.
//
// Timestamp per partition:
//   - -2 (earliest) and -4 (earliest local, v8; all data is local): the log
//     start offset;
//   - -1 (latest): the high watermark (= last stable offset: there are no
//     transactions, so IsolationLevel is accepted and changes nothing);
//   - -3 (max timestamp, v7+): the offset and timestamp of the record with
//     the largest timestamp (logstore MaxTimestamp);
//   - >= 0: the earliest offset whose timestamp is >= it (logstore
//     OffsetForTimestamp), or offset -1 / timestamp -1 when there is none.
//
// Offsets at or beyond the high watermark (written but not yet fsynced) are
// never revealed. v0 answers in OldStyleOffsets: one offset, at most
// MaxNumOffsets (Kafka's list of segment starts is not reproduced).
// LeaderEpoch is 0 (v4+). UNKNOWN_TOPIC_OR_PARTITION per partition.
//
// Skipped: CurrentLeaderEpoch is not checked; -5 (latest tiered, v9) and
// v9+ are not served; ReplicaID is ignored.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 2, MinVersion: 0, MaxVersion: 8, Handle: handleListOffsets})
}

const (
	listLatest       = -1
	listEarliest     = -2
	listMaxTimestamp = -3
	listEarliestLoc  = -4
)

func handleListOffsets(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		tr := &resp.Topics[i]
		*tr = kmsg.NewListOffsetsResponseTopic()
		tr.Topic = rt.Topic
		tr.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		t := rc.Topics.Get(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pr := &tr.Partitions[j]
			*pr = kmsg.NewListOffsetsResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.Offset, pr.Timestamp = -1, -1
			if t == nil || t.Partition(rp.Partition) == nil {
				pr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			log := t.Partition(rp.Partition)
			hw := log.HighWatermark()
			var off, ts int64 = -1, -1
			switch rp.Timestamp {
			case listEarliest, listEarliestLoc:
				off = log.StartOffset()
			case listLatest:
				off = hw
			case listMaxTimestamp:
				if req.Version < 7 {
					pr.ErrorCode = kerr.UnsupportedVersion.Code
					continue
				}
				off, ts = log.MaxTimestamp()
			default:
				if rp.Timestamp < 0 {
					pr.ErrorCode = kerr.InvalidRequest.Code
					continue
				}
				var err error
				off, ts, err = log.OffsetForTimestamp(rp.Timestamp)
				if err != nil {
					pr.ErrorCode = errorCode(err)
					continue
				}
			}
			if rp.Timestamp != listLatest && rp.Timestamp != listEarliest && rp.Timestamp != listEarliestLoc && off >= hw {
				off, ts = -1, -1 // not yet visible to readers
			}
			pr.LeaderEpoch = 0
			if req.Version == 0 {
				if off >= 0 && rp.MaxNumOffsets > 0 {
					pr.OldStyleOffsets = []int64{off}
				} else {
					pr.OldStyleOffsets = []int64{}
				}
				continue
			}
			pr.Offset, pr.Timestamp = off, ts
		}
	}
	return resp, nil
}
