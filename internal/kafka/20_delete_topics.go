package kafka

// DeleteTopics (key 20), versions 0-6 served.
//
// Deletion is synchronous: the topic leaves the catalog durably, then its
// partition logs are closed and removed, before the response is sent.
// TimeoutMillis is therefore ignored.
//
//   - v0-v5 name topics (TopicNames); v6 names or topic IDs (Topics), one of
//     the two per entry: both, or neither, is INVALID_REQUEST.
//   - A name or ID given twice in one request: INVALID_REQUEST for it.
//   - Unknown name: UNKNOWN_TOPIC_OR_PARTITION; unknown ID (v6):
//     UNKNOWN_TOPIC_ID.
//   - v5+ ErrorMessage; v6 answers with both the name and the ID of the
//     deleted topic (the name is null for an unknown ID).
//
// Skipped: delete.topic.enable=false (TOPIC_DELETION_DISABLED) — deletion
// is always enabled; ACLs; quotas.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/metastore"
)

func init() {
	register(apiHandler{Key: 20, MinVersion: 0, MaxVersion: 6, Handle: handleDeleteTopics})
}

func handleDeleteTopics(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

	// Before v6 the names come in TopicNames; turn them into v6 entries so
	// there is one path.
	entries := req.Topics
	if req.Version < 6 {
		entries = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			entries[i] = kmsg.NewDeleteTopicsRequestTopic()
			entries[i].Topic = kmsg.StringPtr(req.TopicNames[i])
		}
	}
	names := make(map[string]int, len(entries))
	ids := make(map[[16]byte]int, len(entries))
	for _, e := range entries {
		if e.Topic != nil {
			names[*e.Topic]++
		} else {
			ids[e.TopicID]++
		}
	}

	for _, e := range entries {
		tr := kmsg.NewDeleteTopicsResponseTopic()
		tr.Topic, tr.TopicID = e.Topic, e.TopicID
		err := deleteTopicEntry(rc, &tr, e, names, ids)
		if err != nil {
			tr.ErrorCode, tr.ErrorMessage = adminErr(err)
			if tr.ErrorCode == kerr.UnknownServerError.Code {
				rc.Logger.Error("kafka: delete topic failed", "topic", e.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, tr)
	}
	return resp, nil
}

// deleteTopicEntry deletes one entry's topic, filling in the response's name
// and ID as it learns them.
func deleteTopicEntry(rc *requestContext, tr *kmsg.DeleteTopicsResponseTopic, e kmsg.DeleteTopicsRequestTopic, names map[string]int, ids map[[16]byte]int) error {
	var zero [16]byte
	switch {
	case e.Topic != nil && e.TopicID != zero:
		return refuse(kerr.InvalidRequest, "you may not specify both topic name and topic id")
	case e.Topic == nil && e.TopicID == zero:
		return refuse(kerr.InvalidRequest, "neither topic name nor id were specified")
	case e.Topic != nil && names[*e.Topic] > 1:
		return refuse(kerr.InvalidRequest, "duplicate topic name %q in the request", *e.Topic)
	case e.Topic == nil && ids[e.TopicID] > 1:
		return refuse(kerr.InvalidRequest, "duplicate topic id %s in the request", metastore.EncodeID(e.TopicID))
	}
	var name string
	if e.Topic != nil {
		name = *e.Topic
		t := rc.Topics.Get(name)
		if t == nil {
			return refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		tr.TopicID = t.ID()
	} else {
		t := rc.Topics.GetByID(e.TopicID)
		if t == nil {
			return refuse(kerr.UnknownTopicID, "no topic with id %s", metastore.EncodeID(e.TopicID))
		}
		name = t.Name()
		tr.Topic = kmsg.StringPtr(name)
	}
	return rc.Topics.Delete(name)
}
