package kafka

// DescribeConfigs (key 32), versions 0-4 served.
//
// Resource types:
//   - TOPIC (2): every supported topic config (internal/topic) with its
//     effective value, source (DYNAMIC_TOPIC_CONFIG for an override,
//     STATIC_BROKER_CONFIG for a broker setting, DEFAULT_CONFIG), read-only
//     and sensitive flags. An invalid name: INVALID_TOPIC_EXCEPTION; an
//     unknown topic: UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4): the name "<node id>" returns this broker's effective
//     settings (num.partitions, log.retention.ms, message.max.bytes …), all
//     read-only since Sluice has no dynamic broker configs; the empty name
//     (cluster-wide dynamic defaults) returns no entries; another broker id
//     or a non-numeric name: INVALID_REQUEST.
//   - anything else (BROKER_LOGGER, CLIENT_METRICS, GROUP …):
//     INVALID_REQUEST.
//
// ConfigNames filters (null: all; names not known are left out, as Kafka
// does). v0 reports IsDefault; v1+ Source, and with IncludeSynonyms the
// values a config falls back to, most specific first (for a topic config:
// the topic override, the broker setting, the built-in default). v3+
// ConfigType, and Documentation with IncludeDocumentation.
//
// Skipped: ACLs (CLUSTER/TOPIC_AUTHORIZATION_FAILED never returned).

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func init() {
	register(apiHandler{Key: 32, MinVersion: 0, MaxVersion: 4, Handle: handleDescribeConfigs})
}

func handleDescribeConfigs(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	synonyms := req.Version >= 1 && req.IncludeSynonyms
	docs := req.Version >= 3 && req.IncludeDocumentation
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			var t *topic.Topic
			if t, err = configTopic(rc, rr.ResourceName); err == nil {
				res.Configs = topicConfigs(rc.Topics, t, rr.ConfigNames, synonyms, docs)
			}
		case kmsg.ConfigResourceTypeBroker:
			var all bool
			if all, err = configBroker(rc, rr.ResourceName); err == nil && all {
				res.Configs = brokerConfigs(rc, rr.ConfigNames, synonyms, docs)
			}
		default:
			err = unsupportedResource(rr.ResourceType)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = adminErr(err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// configTopic resolves a TOPIC resource name.
func configTopic(rc *requestContext, name string) (*topic.Topic, error) {
	if err := topic.ValidateName(name); err != nil {
		return nil, err
	}
	t := rc.Topics.Get(name)
	if t == nil {
		return nil, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	return t, nil
}

// configBroker resolves a BROKER resource name: "" (the cluster-wide
// dynamic defaults, of which Sluice has none: all is false) or this
// broker's id (all is true).
func configBroker(rc *requestContext, name string) (all bool, err error) {
	if name == "" {
		return false, nil
	}
	id, perr := strconv.ParseInt(name, 10, 32)
	if perr != nil {
		return false, refuse(kerr.InvalidRequest, "broker id must be an integer, but it is: %q", name)
	}
	if int32(id) != rc.Config.NodeID {
		return false, refuse(kerr.InvalidRequest, "unexpected broker id, expected %d or empty string, but received %d", rc.Config.NodeID, id)
	}
	return true, nil
}

func unsupportedResource(t kmsg.ConfigResourceType) error {
	return refuse(kerr.InvalidRequest, "unsupported resource type %s (%d): sluice serves TOPIC and BROKER configs", t, int8(t))
}
