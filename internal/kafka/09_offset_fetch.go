package kafka

// OffsetFetch (key 9), versions 0-9 served.
//
//   - v0-v1: a group and its topic partitions; group-level errors are
//     reported on every partition (there is no top-level error field).
//   - v2: null topics fetch every committed offset of the group; top-level
//     error code. v3 throttle time; v5 leader epoch; v6 flexible; v7
//     RequireStable (accepted: Sluice has no transactional offset commits,
//     so no offset is ever unstable).
//   - v8: several groups per request (KIP-709), each with its own error.
//     v9 adds a member id and epoch for KIP-848 consumer groups; for
//     classic groups they are not checked, as in Kafka.
//   - A partition without a committed offset (or of an unknown group)
//     answers offset -1, leader epoch -1, empty metadata and no error.
//
// Skipped: v10 (topic ids).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 9, MinVersion: 0, MaxVersion: 9, Handle: handleOffsetFetch})
}

func handleOffsetFetch(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var parts []group.TopicPartition
			if rg.Topics != nil {
				parts = []group.TopicPartition{}
				for _, t := range rg.Topics {
					for _, p := range t.Partitions {
						parts = append(parts, group.TopicPartition{Topic: t.Topic, Partition: p})
					}
				}
			}
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			offs, err := rc.Server.groups.FetchOffsets(rg.Group, parts)
			if err != nil {
				sg.ErrorCode = groupErrorCode(err)
			}
			for _, tps := range byTopic(offs) {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = tps[0].Topic
				for _, o := range tps {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = o.Partition, o.Offset, o.LeaderEpoch, &o.Metadata
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}
	var parts []group.TopicPartition
	if req.Topics != nil || req.Version < 2 {
		parts = []group.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	offs, err := rc.Server.groups.FetchOffsets(req.Group, parts)
	code := groupErrorCode(err)
	if err != nil && parts != nil {
		// Answer every asked partition, with the error where there is no
		// top-level field for it.
		offs = offs[:0]
		for _, tp := range parts {
			offs = append(offs, group.CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, LeaderEpoch: -1})
		}
	}
	resp.ErrorCode = code
	for _, tps := range byTopic(offs) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = tps[0].Topic
		for _, o := range tps {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = o.Partition, o.Offset, o.LeaderEpoch, &o.Metadata
			if req.Version < 2 {
				rp.ErrorCode = code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// byTopic groups consecutive offsets of the same topic, keeping order
// (FetchOffsets answers in request order, or sorted).
func byTopic(offs []group.CommittedOffset) [][]group.CommittedOffset {
	var out [][]group.CommittedOffset
	for i := 0; i < len(offs); {
		j := i + 1
		for j < len(offs) && offs[j].Topic == offs[i].Topic {
			j++
		}
		out = append(out, offs[i:j])
		i = j
	}
	return out
}
