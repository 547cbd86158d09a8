package kafka

// DescribeGroups (key 15), versions 0-5 served.
//
//   - Per group: state (Empty, PreparingRebalance, CompletingRebalance,
//     Stable, Dead), protocol type, and the members with client id and
//     host ("/127.0.0.1", as Kafka shows it). As in Kafka, the selected
//     protocol and each member's metadata and assignment are filled only
//     when the group is Stable.
//   - An unknown group is described as Dead with no error (Kafka's answer
//     before v6).
//   - v1 throttle time; v3 authorized operations when asked (everything
//     Kafka defines for groups: Sluice has no ACLs), else -2147483648; v4
//     group.instance.id of members; v5 flexible.
//
// Skipped: v6 (GROUP_ID_NOT_FOUND for unknown groups, error messages,
// KIP-1043).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 15, MinVersion: 0, MaxVersion: 5, Handle: handleDescribeGroups})
}

func handleDescribeGroups(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.AuthorizedOperations = authorizedOpsNotProvided
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		}
		d, err := rc.Server.groups.Describe(id)
		if err != nil {
			rg.ErrorCode = groupErrorCode(err)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.ProtocolType, rg.Protocol = d.State.String(), d.ProtocolType, d.Protocol
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, strPtr(m.InstanceID), m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			if rm.ProtocolMetadata == nil {
				rm.ProtocolMetadata = []byte{}
			}
			if rm.MemberAssignment == nil {
				rm.MemberAssignment = []byte{}
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
