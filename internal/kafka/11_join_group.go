package kafka

// JoinGroup (key 11), versions 0-9 served. The group state machine is
// internal/group (membership.go); this handler decodes and encodes.
//
//   - v0: session timeout only (it is also the rebalance timeout); v1 adds
//     the rebalance timeout (max.poll.interval.ms); v2 throttle time; v3
//     nothing new; v4: a dynamic member's first join (no member id) is
//     answered MEMBER_ID_REQUIRED with the id to rejoin with (KIP-394);
//     v5 group.instance.id (static membership, KIP-345); v6 flexible; v7
//     protocol type in the response; v8 a reason (logged); v9 SkipAssignment
//     for a static leader rejoining a stable group (KIP-814).
//   - The request waits until the rebalance completes (or the connection
//     closes), as Kafka parks it; requests behind it on the same
//     connection wait too, as in Kafka.
//   - Errors: INVALID_GROUP_ID (empty id), INVALID_SESSION_TIMEOUT (outside
//     group.min/max.session.timeout.ms), INCONSISTENT_GROUP_PROTOCOL,
//     UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED,
//     MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
//     NOT_COORDINATOR.
//
// Skipped: nothing of the classic protocol.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 11, MinVersion: 0, MaxVersion: 9, Handle: handleJoinGroup})
}

func handleJoinGroup(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := group.JoinRequest{
		Group:                  req.Group,
		MemberID:               req.MemberID,
		InstanceID:             deref(req.InstanceID),
		ClientID:               rc.ClientID,
		ClientHost:             clientHost(rc),
		SessionTimeout:         msDuration(req.SessionTimeoutMillis),
		RebalanceTimeout:       msDuration(req.SessionTimeoutMillis),
		ProtocolType:           req.ProtocolType,
		RequireKnownMemberID:   req.Version >= 4,
		SupportsSkipAssignment: req.Version >= 9,
		Reason:                 deref(req.Reason),
	}
	if req.Version >= 1 {
		jr.RebalanceTimeout = msDuration(req.RebalanceTimeoutMillis)
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	res, err := rc.Server.groups.Join(rc.Ctx, jr)
	if rc.Ctx.Err() != nil {
		return nil, rc.Ctx.Err() // the connection is gone; nobody reads an answer
	}
	resp.MemberID = res.MemberID
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		resp.Generation = -1
		if req.Version < 7 {
			empty := ""
			resp.Protocol = &empty
		}
		return resp, nil
	}
	resp.Generation = res.Generation
	resp.LeaderID = res.Leader
	resp.SkipAssignment = res.SkipAssignment
	resp.ProtocolType = strPtr(res.ProtocolType)
	resp.Protocol = strPtr(res.Protocol)
	if resp.Protocol == nil && req.Version < 7 {
		empty := ""
		resp.Protocol = &empty
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, strPtr(m.InstanceID), m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
