package kafka

// SyncGroup (key 14), versions 0-5 served.
//
//   - The leader sends the assignment it computed; every member gets its
//     own once the assignment is durable in the offsets journal (as Kafka
//     writes it to __consumer_offsets first). Members missing from the
//     leader's assignment get an empty one. In a Stable group the current
//     assignment is returned at once (a static member back from a restart).
//   - v1 throttle time; v3 group.instance.id; v4 flexible; v5 protocol type
//     and name in request (checked: INCONSISTENT_GROUP_PROTOCOL) and
//     response.
//   - Errors: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS
//     (a rebalance started; rejoin), FENCED_INSTANCE_ID, INVALID_GROUP_ID,
//     COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 14, MinVersion: 0, MaxVersion: 5, Handle: handleSyncGroup})
}

func handleSyncGroup(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := group.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   deref(req.InstanceID),
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res, err := rc.Server.groups.Sync(rc.Ctx, sr)
	if rc.Ctx.Err() != nil {
		return nil, rc.Ctx.Err()
	}
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		resp.MemberAssignment = []byte{}
		return resp, nil
	}
	resp.ProtocolType, resp.Protocol = strPtr(res.ProtocolType), strPtr(res.Protocol)
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}
