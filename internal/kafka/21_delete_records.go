package kafka

// DeleteRecords (key 21), versions 0-2 served.
//
// Per partition, the log start offset (low watermark) moves up to Offset
// (logstore DeleteRecordsBefore, durable when it returns; whole segments
// below it are freed). Records below it are no longer readable: ListOffsets
// earliest answers the new start and a Fetch below it is
// OFFSET_OUT_OF_RANGE.
//
//   - Offset -1 means the high watermark (delete everything readable).
//   - Any other negative offset, or one above the high watermark:
//     OFFSET_OUT_OF_RANGE (the low watermark is then -1, as in Kafka).
//   - An offset at or below the current start changes nothing; the
//     current start is returned.
//   - Unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION.
//   - LowWatermark is the partition's start offset after the request.
//
// TimeoutMillis is ignored: the deletion is done when the response is
// sent. Skipped: POLICY_VIOLATION for compacted topics (Sluice has no
// compaction), ACLs, quotas.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 21, MinVersion: 0, MaxVersion: 2, Handle: handleDeleteRecords})
}

// deleteToHighWatermark is the Offset that means "everything".
const deleteToHighWatermark = -1

func handleDeleteRecords(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		tr := &resp.Topics[i]
		*tr = kmsg.NewDeleteRecordsResponseTopic()
		tr.Topic = rt.Topic
		tr.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		t := rc.Topics.Get(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pr := &tr.Partitions[j]
			*pr = kmsg.NewDeleteRecordsResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.LowWatermark = -1
			if t == nil || t.Partition(rp.Partition) == nil {
				pr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			log := t.Partition(rp.Partition)
			offset := rp.Offset
			hw := log.HighWatermark()
			if offset == deleteToHighWatermark {
				offset = hw
			}
			if offset < 0 || offset > hw {
				pr.ErrorCode = kerr.OffsetOutOfRange.Code
				continue
			}
			if offset > log.StartOffset() {
				if err := log.DeleteRecordsBefore(offset); err != nil {
					pr.ErrorCode = errorCode(err)
					if pr.ErrorCode == kerr.UnknownServerError.Code {
						rc.Logger.Error("kafka: delete records failed", "topic", rt.Topic, "partition", rp.Partition, "offset", offset, "err", err)
					}
					continue
				}
			}
			pr.LowWatermark = log.StartOffset()
		}
	}
	return resp, nil
}
