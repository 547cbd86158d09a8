package kafka

// IncrementalAlterConfigs (key 44), versions 0-1 served (v1 is the
// flexible encoding of v0).
//
// Each config names an operation (KIP-339):
//   - SET (0): override the key with the value;
//   - DELETE (1): remove the override (the key returns to its broker or
//     built-in default); the value is ignored;
//   - APPEND (2) / SUBTRACT (3): add or remove comma-separated items of a
//     list config (cleanup.policy); on a non-list key: INVALID_CONFIG.
//
// Operations on one resource apply together, in order, and the resulting
// overrides are validated as a whole by the topic registry (unknown key,
// bad value, cleanup.policy=compact …): INVALID_CONFIG with a message
// naming the key; nothing changes unless all of them are valid.
//
//   - TOPIC (2): invalid name INVALID_TOPIC_EXCEPTION; unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4), name "" or "<node id>": Sluice has no dynamic broker
//     configs; any operation is refused with INVALID_REQUEST ("cannot
//     update these configs dynamically"). Another broker id: INVALID_REQUEST.
//   - BROKER_LOGGER (8) and other types: INVALID_REQUEST.
//   - an unknown operation, a null value for SET/APPEND/SUBTRACT, a key
//     given twice, or the same resource twice: INVALID_REQUEST.
//
// ValidateOnly checks everything and changes nothing.
// Skipped: ACLs; dynamic broker configs; broker loggers.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func init() {
	register(apiHandler{Key: 44, MinVersion: 0, MaxVersion: 1, Handle: handleIncrementalAlterConfigs})
}

func handleIncrementalAlterConfigs(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	seen := make(map[resourceKey]int, len(req.Resources))
	for i := range req.Resources {
		seen[resourceKey{req.Resources[i].ResourceType, req.Resources[i].ResourceName}]++
	}
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		err := alterConfigsIncremental(rc, rr, seen[resourceKey{rr.ResourceType, rr.ResourceName}] > 1, req.ValidateOnly)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = adminErr(err)
			if res.ErrorCode == kerr.UnknownServerError.Code {
				rc.Logger.Error("kafka: incremental alter configs failed", "resource", rr.ResourceName, "err", err)
			}
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func alterConfigsIncremental(rc *requestContext, rr *kmsg.IncrementalAlterConfigsRequestResource, duplicated, validateOnly bool) error {
	if duplicated {
		return refuse(kerr.InvalidRequest, "resource %q appears more than once in the request", rr.ResourceName)
	}
	ops := make([]topic.ConfigOp, len(rr.Configs))
	keys := make([]string, len(rr.Configs))
	for i, c := range rr.Configs {
		op := topic.ConfigOp{Key: c.Name}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			op.Op = topic.OpSet
		case kmsg.IncrementalAlterConfigOpDelete:
			op.Op = topic.OpDelete
		case kmsg.IncrementalAlterConfigOpAppend:
			op.Op = topic.OpAppend
		case kmsg.IncrementalAlterConfigOpSubtract:
			op.Op = topic.OpSubtract
		default:
			return refuse(kerr.InvalidRequest, "unknown config operation %d for config %q", int8(c.Op), c.Name)
		}
		if op.Op != topic.OpDelete {
			if c.Value == nil {
				return refuse(kerr.InvalidRequest, "null value not supported for %s of config %q", c.Op, c.Name)
			}
			op.Value = *c.Value
		}
		ops[i] = op
		keys[i] = c.Name
	}
	if k := duplicateKey(keys); k != "" {
		return refuse(kerr.InvalidRequest, "error due to duplicate config keys: %q", k)
	}
	return alterConfigs(rc, rr.ResourceType, rr.ResourceName, ops, false, validateOnly)
}
