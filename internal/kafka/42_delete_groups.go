package kafka

// DeleteGroups (key 42), versions 0-2 served.
//
//   - Deletes empty groups with their committed offsets (durably, before
//     answering). Per group: GROUP_ID_NOT_FOUND (unknown), NON_EMPTY_GROUP
//     (has members), NOT_COORDINATOR (journal failure). v1 throttle time,
//     v2 flexible.
//
// Skipped: v3 (error messages).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 42, MinVersion: 0, MaxVersion: 2, Handle: handleDeleteGroups})
}

func handleDeleteGroups(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	errs := rc.Server.groups.DeleteGroups(rc.Ctx, req.Groups)
	for i, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = id, groupErrorCode(errs[i])
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
