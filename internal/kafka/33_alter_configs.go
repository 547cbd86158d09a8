package kafka

// AlterConfigs (key 33), versions 0-2 served.
//
// The legacy, replace-all form (deprecated by IncrementalAlterConfigs,
// KIP-339, but still what sarama and kafka-python send): the configs given
// for a resource become its whole set of overrides; a key not named
// returns to its default.
//
//   - TOPIC (2): the new overrides are validated as a whole by the topic
//     registry (unknown key, bad value, cleanup.policy=compact …):
//     INVALID_CONFIG with a message naming the key; applied durably and
//     to the live partition logs. An invalid name: INVALID_TOPIC_EXCEPTION;
//     unknown topic: UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4), name "" or "<node id>": Sluice has no dynamic broker
//     configs; any config is refused with INVALID_REQUEST ("cannot update
//     these configs dynamically"), an empty list succeeds (nothing to
//     reset). Another broker id: INVALID_REQUEST.
//   - other resource types: INVALID_REQUEST.
//   - a null value, a key given twice, or the same resource twice in one
//     request: INVALID_REQUEST.
//
// ValidateOnly checks everything and changes nothing.
// Skipped: ACLs; dynamic broker configs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func init() {
	register(apiHandler{Key: 33, MinVersion: 0, MaxVersion: 2, Handle: handleAlterConfigs})
}

func handleAlterConfigs(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	seen := make(map[resourceKey]int, len(req.Resources))
	for i := range req.Resources {
		seen[resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}]++
	}
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		err := alterConfigsLegacy(rc, rr, seen[resourceKey{rr.ResourceType, rr.ResourceName}] > 1, req.ValidateOnly)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = adminErr(err)
			if res.ErrorCode == kerr.UnknownServerError.Code {
				rc.Logger.Error("kafka: alter configs failed", "resource", rr.ResourceName, "err", err)
			}
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func alterConfigsLegacy(rc *requestContext, rr *kmsg.AlterConfigsRequestResource, duplicated, validateOnly bool) error {
	if duplicated {
		return refuse(kerr.InvalidRequest, "resource %q appears more than once in the request", rr.ResourceName)
	}
	ops := make([]topic.ConfigOp, len(rr.Configs))
	keys := make([]string, len(rr.Configs))
	for i, c := range rr.Configs {
		if c.Value == nil {
			return refuse(kerr.InvalidRequest, "null value not supported for config %q", c.Name)
		}
		ops[i] = topic.ConfigOp{Key: c.Name, Op: topic.OpSet, Value: *c.Value}
		keys[i] = c.Name
	}
	if k := duplicateKey(keys); k != "" {
		return refuse(kerr.InvalidRequest, "config %q is given more than once", k)
	}
	return alterConfigs(rc, rr.ResourceType, rr.ResourceName, ops, true, validateOnly)
}
