package kafka

// OffsetCommit (key 8), versions 0-9 served.
//
// Offsets are stored by internal/group in its durable journal: the
// response is sent only after the fsync that covers them, so an
// acknowledged commit survives a crash (group commit: concurrent commits
// share fsyncs).
//
//   - v0: no generation or member (a commit outside group management); v1
//     adds generation, member id and a per-partition timestamp (ignored, as
//     Kafka ignores it since 2.1); v2-v4 a retention time: other than -1,
//     the offset expires that long after the commit instead of with the
//     group; v3 throttle time; v5 drops the retention time; v6 the leader
//     epoch (stored, returned by OffsetFetch v5+); v7 group.instance.id; v8
//     flexible; v9 is v8 for classic groups (KIP-848 changes it only for
//     consumer-protocol groups, which Sluice does not have).
//   - Commits with generation -1 (simple consumers, kafka-go without
//     groups, admin offset resets) are accepted while the group has no
//     members; members must commit for the current generation
//     (ILLEGAL_GENERATION), as known members (UNKNOWN_MEMBER_ID), not
//     while the assignment is pending (REBALANCE_IN_PROGRESS);
//     FENCED_INSTANCE_ID for a replaced static member.
//   - Per partition: UNKNOWN_TOPIC_OR_PARTITION for partitions that do not
//     exist, OFFSET_METADATA_TOO_LARGE above offset.metadata.max.bytes.
//
// Skipped: v10 (topic ids).

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 8, MinVersion: 0, MaxVersion: 9, Handle: handleOffsetCommit})
}

func handleOffsetCommit(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: req.Group, Generation: -1, InstanceID: deref(req.InstanceID)}
	if req.Version >= 1 {
		cr.Generation, cr.MemberID = req.Generation, req.MemberID
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
		cr.Retention = time.Duration(req.RetentionTimeMillis) * time.Millisecond
	}
	// codes[i][j] is the answer for topic i partition j; -1 pending.
	codes := make([][]int16, len(req.Topics))
	type ref struct{ t, p int }
	var refs []ref
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		for j, p := range t.Partitions {
			if !topicPartitionKnown(rc, t.Topic, p.Partition) {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = p.LeaderEpoch
			}
			cr.Offsets = append(cr.Offsets, group.OffsetCommit{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: deref(p.Metadata)})
			refs = append(refs, ref{i, j})
		}
	}
	if len(cr.Offsets) > 0 {
		errs, err := rc.Server.groups.CommitOffsets(rc.Ctx, cr)
		for k, r := range refs {
			if err != nil {
				codes[r.t][r.p] = groupErrorCode(err)
			} else {
				codes[r.t][r.p] = groupErrorCode(errs[k])
			}
		}
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
