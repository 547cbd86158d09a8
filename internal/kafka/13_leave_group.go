package kafka

// LeaveGroup (key 13), versions 0-5 served.
//
//   - v0-v2: one member id; its error is the response's error.
//   - v3+: a batch of members, each by member id and/or group.instance.id
//     (KIP-345: an admin removes a static member by instance id with an
//     empty member id); per-member errors, the top-level error only for
//     the group (UNKNOWN_MEMBER_ID for an unknown group, as Kafka,
//     INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE). v4 flexible, v5 a
//     reason per member (logged).
//   - A member that leaves starts a rebalance for the others at once
//     instead of after its session timeout.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 13, MinVersion: 0, MaxVersion: 5, Handle: handleLeaveGroup})
}

func handleLeaveGroup(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	var members []group.LeaveMember
	if req.Version <= 2 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), Reason: deref(m.Reason)})
		}
	}
	errs, err := rc.Server.groups.Leave(req.Group, members)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return resp, nil
	}
	if req.Version <= 2 {
		resp.ErrorCode = groupErrorCode(errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, groupErrorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
