package kafka

// CreatePartitions (key 37), versions 0-3 served.
//
// Count is the topic's new total partition count; partitions can only be
// added, synchronously (the new partition logs exist, durably, when the
// response is sent; TimeoutMillis is ignored).
//
//   - Unknown topic: UNKNOWN_TOPIC_OR_PARTITION.
//   - Count not above the current count, above the per-topic limit:
//     INVALID_PARTITIONS; above the broker's total-partition limit:
//     POLICY_VIOLATION.
//   - Assignment (optional): one replica list per new partition, each
//     exactly this broker; a different number of lists, an empty list,
//     another broker or the same broker twice: INVALID_REPLICA_ASSIGNMENT.
//   - The same topic twice in one request: INVALID_REQUEST.
//
// ValidateOnly checks everything and adds nothing. ErrorMessage says why.
// Skipped: ACLs, quotas (ThrottleMillis is 0).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 37, MinVersion: 0, MaxVersion: 3, Handle: handleCreatePartitions})
}

func handleCreatePartitions(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		tr := kmsg.NewCreatePartitionsResponseTopic()
		tr.Topic = rt.Topic
		var err error
		if count[rt.Topic] > 1 {
			err = refuse(kerr.InvalidRequest, "duplicate topic %q in the request", rt.Topic)
		} else {
			err = addPartitions(rc, rt, req.ValidateOnly)
		}
		if err != nil {
			tr.ErrorCode, tr.ErrorMessage = adminErr(err)
			if tr.ErrorCode == kerr.UnknownServerError.Code {
				rc.Logger.Error("kafka: create partitions failed", "topic", rt.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, tr)
	}
	return resp, nil
}

func addPartitions(rc *requestContext, rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t := rc.Topics.Get(rt.Topic)
	if t == nil {
		return refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
	}
	// The count is checked first (by the registry, again, under its
	// lock): an assignment only means something for an increase.
	cur := t.NumPartitions()
	if rt.Count > cur && rt.Assignment != nil {
		if add := rt.Count - cur; int32(len(rt.Assignment)) != add {
			return refuse(kerr.InvalidReplicaAssignment, "attempted to add %d additional partition(s), but %d assignment(s) were specified", add, len(rt.Assignment))
		}
		for _, a := range rt.Assignment {
			if err := checkReplicas(rc, a.Replicas); err != nil {
				return err
			}
		}
	}
	return rc.Topics.CreatePartitions(rt.Topic, rt.Count, validateOnly)
}
