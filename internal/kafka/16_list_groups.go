package kafka

// ListGroups (key 16), versions 0-5 served.
//
//   - Every group the coordinator holds: group id and protocol type
//     (empty for groups that only store offsets); v1 throttle time; v3
//     flexible; v4 the state of each group and a states filter
//     (case-insensitive; empty = all, KIP-518); v5 the group type, always
//     "classic", and a types filter (KIP-848: "consumer" matches nothing,
//     as Sluice has no consumer-protocol groups).

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
)

func init() {
	register(apiHandler{Key: 16, MinVersion: 0, MaxVersion: 5, Handle: handleListGroups})
}

const classicGroupType = "classic"

func handleListGroups(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	states := map[group.State]bool{}
	for _, s := range req.StatesFilter {
		if st, ok := group.ParseState(s); ok {
			states[st] = true
		} else {
			states[-1] = true // an unknown name matches nothing, but the filter is on
		}
	}
	if len(req.TypesFilter) > 0 {
		classic := false
		for _, t := range req.TypesFilter {
			classic = classic || strings.EqualFold(t, classicGroupType)
		}
		if !classic {
			return resp, nil
		}
	}
	for _, l := range rc.Server.groups.List() {
		if len(states) > 0 && !states[l.State] {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = l.Group, l.ProtocolType, l.State.String(), classicGroupType
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
