package kafka

// Metadata (key 3), versions 0-12 served.
//
// This broker (Config.NodeID) is the only broker, the controller, and the
// leader, only replica and only in-sync replica of every partition, with
// leader epoch 0. The advertised host:port is the local address of the
// connection the request came on, so a client reaches the broker by the
// address it already used (127.0.0.1, a container IP, …).
//
//   - v0: an empty topic list means all topics; v1+: null means all topics,
//     an empty list means none.
//   - v2+: ClusterID from the metastore. v10+: topic ids; a request entry
//     with a topic id and no name is resolved by id (UNKNOWN_TOPIC_ID if
//     absent).
//   - Auto-creation: a missing topic is created with Config.DefaultPartitions
//     when Config.AutoCreateTopics is on and the request allows it
//     (always before v4; AllowAutoTopicCreation from v4). Unlike Kafka,
//     which answers LEADER_NOT_AVAILABLE while the new topic's leader is
//     elected, the topic is usable at once and answered in full.
//   - Per topic: UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION.
//
// Skipped: authorized operations (no ACLs; reported as not provided),
// v13 (its only addition is a top-level error code), racks (null).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func init() {
	register(apiHandler{Key: 3, MinVersion: 0, MaxVersion: 12, Handle: handleMetadata})
}

func handleMetadata(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	host, port := rc.advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = rc.Config.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	cid := rc.Meta.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = rc.Config.NodeID

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range rc.Topics.List() {
			resp.Topics = append(resp.Topics, metadataTopic(rc, t))
		}
		return resp, nil
	}
	autoCreate := rc.Config.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil || *rt.Topic == "" {
			var t *topic.Topic
			if rt.TopicID != ([16]byte{}) {
				t = rc.Topics.GetByID(rt.TopicID)
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, metadataTopic(rc, t))
			continue
		}
		name := *rt.Topic
		t, err := lookupTopic(rc, name, autoCreate)
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = errorCode(err)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(rc, t))
	}
	return resp, nil
}

// lookupTopic returns the named topic, creating it with the default
// partition count when autoCreate is set. Errors are topic.Err* (unknown,
// invalid name) or a creation failure.
func lookupTopic(rc *requestContext, name string, autoCreate bool) (*topic.Topic, error) {
	if t := rc.Topics.Get(name); t != nil {
		return t, nil
	}
	if err := topic.ValidateName(name); err != nil {
		return nil, err
	}
	if !autoCreate {
		return nil, topic.ErrUnknownTopic
	}
	t, err := rc.Topics.Create(name, rc.Config.DefaultPartitions, nil, false)
	if errors.Is(err, topic.ErrTopicExists) {
		// Created concurrently by another request; use that one.
		if t = rc.Topics.Get(name); t != nil {
			return t, nil
		}
	}
	if err != nil {
		return nil, err
	}
	rc.Logger.Info("kafka: auto-created topic", "topic", name, "partitions", t.NumPartitions(), "client", rc.ClientID)
	return t, nil
}

func metadataTopic(rc *requestContext, t *topic.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name())
	mt.TopicID = t.ID()
	n := t.NumPartitions()
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, n)
	node := rc.Config.NodeID
	nodes := []int32{node} // shared: the encoder only reads it
	for i := int32(0); i < n; i++ {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = i
		p.Leader = node
		p.LeaderEpoch = 0
		p.Replicas = nodes
		p.ISR = nodes
		p.OfflineReplicas = nodes[:0]
		mt.Partitions[i] = p
	}
	return mt
}
