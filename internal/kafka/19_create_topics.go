package kafka

// CreateTopics (key 19), versions 0-7 served.
//
// Topics are created synchronously: when the response is sent the topic
// exists, durably, with all its partitions (Kafka answers once the
// controller has committed the topic; this is the same from a client's
// point of view). TimeoutMillis is therefore not needed and ignored.
//
// Per topic, checked in this order, as a single-node Kafka would:
//   - the same name twice in one request: INVALID_REQUEST for that name;
//   - the name (topic.ValidateName: [a-zA-Z0-9._-], 1..249, not "." or
//     ".."; a '.'/'_' collision with an existing topic):
//     INVALID_TOPIC_EXCEPTION; an existing topic: TOPIC_ALREADY_EXISTS;
//   - NumPartitions: -1 takes num.partitions (Config.DefaultPartitions) in
//     every version (Kafka accepts it from v4, KIP-464, but an older
//     client never sends it); 0 or below -1: INVALID_PARTITIONS;
//   - ReplicationFactor: -1 (default.replication.factor) or 1; 0 or below
//     -1, and anything above 1 (there is one broker):
//     INVALID_REPLICATION_FACTOR;
//   - ReplicaAssignment: only with NumPartitions and ReplicationFactor
//     both -1 (else INVALID_REQUEST); partitions 0..n-1 each once, each
//     with exactly this broker as its only replica, else
//     INVALID_REPLICA_ASSIGNMENT; the topic gets n partitions;
//   - Configs: validated by the topic registry (unknown keys, bad values,
//     cleanup.policy=compact …): INVALID_CONFIG with a message naming the
//     key; a null value or a key given twice: INVALID_CONFIG /
//     INVALID_REQUEST;
//   - too many partitions for the broker's limit: POLICY_VIOLATION.
//
// ValidateOnly (v1+) runs every check and creates nothing; the response is
// the same, with a zero topic ID. ErrorMessage (v1+) says why a topic was
// refused. v5+ returns the topic's partition count, replication factor (1)
// and every config with its value, source, read-only and sensitive flags;
// v7+ the topic ID.
//
// Skipped: create.topic.policy.class.name (no pluggable policies), ACLs,
// quotas (ThrottleMillis is 0, never THROTTLING_QUOTA_EXCEEDED).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func init() {
	register(apiHandler{Key: 19, MinVersion: 0, MaxVersion: 7, Handle: handleCreateTopics})
}

func handleCreateTopics(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	// Kafka answers each name once; a duplicated name is refused as a
	// whole, since which entry was meant is unknowable.
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		tr := kmsg.NewCreateTopicsResponseTopic()
		tr.Topic = rt.Topic
		var t *topic.Topic
		var err error
		if count[rt.Topic] > 1 {
			err = refuse(kerr.InvalidRequest, "the request names topic %q %d times", rt.Topic, count[rt.Topic])
		} else {
			t, err = createTopicEntry(rc, rt, req.ValidateOnly)
		}
		if err != nil {
			tr.ErrorCode, tr.ErrorMessage = adminErr(err)
			if errorCode(err) == kerr.UnknownServerError.Code {
				rc.Logger.Error("kafka: create topic failed", "topic", rt.Topic, "err", err)
			}
		} else {
			tr.NumPartitions = t.NumPartitions()
			tr.ReplicationFactor = 1
			tr.Configs = createdTopicConfigs(t)
			if !req.ValidateOnly {
				tr.TopicID = t.ID()
			}
		}
		resp.Topics = append(resp.Topics, tr)
	}
	return resp, nil
}

// createTopicEntry applies the protocol's checks, then asks the registry.
func createTopicEntry(rc *requestContext, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) (*topic.Topic, error) {
	if err := topic.ValidateName(rt.Topic); err != nil {
		return nil, err
	}
	if rc.Topics.Get(rt.Topic) != nil {
		return nil, refuse(kerr.TopicAlreadyExists, "topic %q already exists", rt.Topic)
	}
	partitions, err := createPartitionCount(rc, rt)
	if err != nil {
		return nil, err
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			return nil, refuse(kerr.InvalidConfig, "null value not supported for topic config %q", c.Name)
		}
		if _, dup := configs[c.Name]; dup {
			return nil, refuse(kerr.InvalidRequest, "topic config %q is given more than once", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	return rc.Topics.Create(rt.Topic, partitions, configs, validateOnly)
}

// createPartitionCount checks NumPartitions, ReplicationFactor and
// ReplicaAssignment and returns the number of partitions to create.
func createPartitionCount(rc *requestContext, rt *kmsg.CreateTopicsRequestTopic) (int32, error) {
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, refuse(kerr.InvalidRequest, "both numPartitions or replicationFactor and replicasAssignments were set; both cannot be used at the same time")
		}
		n := int32(len(rt.ReplicaAssignment))
		seen := make([]bool, n)
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || a.Partition >= n || seen[a.Partition] {
				return 0, refuse(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence (got partition %d among %d assignments)", a.Partition, n)
			}
			seen[a.Partition] = true
			if err := checkReplicas(rc, a.Replicas); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	switch rf := rt.ReplicationFactor; {
	case rf == 0 || rf < -1:
		return 0, refuse(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, or -1 to use the default value (got %d)", rf)
	case rf > 1:
		return 0, refuse(kerr.InvalidReplicationFactor, "unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only 1 broker is registered", rf, rf)
	}
	switch p := rt.NumPartitions; {
	case p == -1:
		return rc.Config.DefaultPartitions, nil
	case p <= 0:
		return 0, refuse(kerr.InvalidPartitions, "number of partitions was set to an invalid non-positive value (%d)", p)
	default:
		return p, nil
	}
}

// checkReplicas accepts a replica list for a new partition: exactly this
// broker, once (the replication factor of every Sluice partition is 1).
func checkReplicas(rc *requestContext, replicas []int32) error {
	node := rc.Config.NodeID
	switch {
	case len(replicas) == 0:
		return refuse(kerr.InvalidReplicaAssignment, "the manual partition assignment includes an empty replica list")
	case len(replicas) > 1:
		for i, r := range replicas {
			for _, o := range replicas[:i] {
				if r == o {
					return refuse(kerr.InvalidReplicaAssignment, "the manual partition assignment includes the broker %d more than once", r)
				}
			}
		}
		for _, r := range replicas {
			if r != node {
				return refuse(kerr.InvalidReplicaAssignment, "the manual partition assignment includes broker %d, but no such broker is registered", r)
			}
		}
		return refuse(kerr.InvalidReplicaAssignment, "unable to replicate the partition %d time(s): only 1 broker is registered", len(replicas))
	case replicas[0] != node:
		return refuse(kerr.InvalidReplicaAssignment, "the manual partition assignment includes broker %d, but no such broker is registered", replicas[0])
	}
	return nil
}
