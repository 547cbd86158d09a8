package kafka

// Heartbeat (key 12), versions 0-4 served.
//
//   - v0: group, generation, member id; v1 throttle time; v3
//     group.instance.id; v4 flexible.
//   - NONE while the member may keep its assignment (Stable, or the
//     generation being completed), REBALANCE_IN_PROGRESS when it must
//     rejoin; UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
//     INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE as Kafka returns them.
//     Every accepted heartbeat restarts the member's session timeout.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 12, MinVersion: 0, MaxVersion: 4, Handle: handleHeartbeat})
}

func handleHeartbeat(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = groupErrorCode(rc.Server.groups.Heartbeat(req.Group, req.MemberID, deref(req.InstanceID), req.Generation))
	return resp, nil
}
