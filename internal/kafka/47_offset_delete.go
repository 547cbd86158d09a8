package kafka

// OffsetDelete (key 47), version 0 served (KIP-496).
//
//   - Deletes a group's committed offsets for the given partitions
//     (durably, before answering). Group-level errors: GROUP_ID_NOT_FOUND,
//     NON_EMPTY_GROUP (a group with members that does not use the consumer
//     protocol, so its subscriptions are unknown). Per partition:
//     GROUP_SUBSCRIBED_TO_TOPIC when a member of the group consumes the
//     topic, UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist.
//   - A group left empty with no offsets is removed, as Kafka does.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 47, MinVersion: 0, MaxVersion: 0, Handle: handleOffsetDelete})
}

func handleOffsetDelete(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	codes := make([][]int16, len(req.Topics))
	type ref struct{ t, p int }
	var (
		parts []group.TopicPartition
		refs  []ref
	)
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		for j, p := range t.Partitions {
			if !topicPartitionKnown(rc, t.Topic, p.Partition) {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			parts = append(parts, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			refs = append(refs, ref{i, j})
		}
	}
	errs, err := rc.Server.groups.DeleteOffsets(rc.Ctx, req.Group, parts)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return resp, nil
	}
	for k, r := range refs {
		codes[r.t][r.p] = groupErrorCode(errs[k])
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
