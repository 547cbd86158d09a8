package kafka

// FindCoordinator (key 10), versions 0-4 served.
//
// Sluice is one node, so the coordinator of every group is this broker,
// at the address the request came in on.
//
//   - v0: a group id; v1 adds the key type (0 group, 1 transaction) and an
//     error message; v3 is flexible; v4 batches keys (KIP-699) and answers
//     one coordinator per key.
//   - Key type 1 (transactional id): answered
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a message, the same
//     non-retriable refusal InitProducerId gives transactional producers
//     (Sluice has no transactions), so clients fail at once instead of
//     retrying COORDINATOR_NOT_AVAILABLE.
//   - Other key types (2 = share groups, KIP-932): INVALID_REQUEST.
//
// Skipped: v5 (TRANSACTION_ABORTABLE, KIP-890) and v6 (share groups).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 10, MinVersion: 0, MaxVersion: 4, Handle: handleFindCoordinator})
}

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := rc.advertised()
	answer := func() (int16, *string) {
		switch req.CoordinatorType {
		case coordinatorGroup:
			return 0, nil
		case coordinatorTransaction:
			msg := "sluice does not support transactions"
			return kerr.TransactionalIDAuthorizationFailed.Code, &msg
		}
		msg := "unknown coordinator key type"
		return kerr.InvalidRequest.Code, &msg
	}
	code, msg := answer()
	if req.Version >= 4 {
		for _, key := range req.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.ErrorMessage = key, code, msg
			c.NodeID, c.Host, c.Port = -1, "", -1
			if code == 0 {
				c.NodeID, c.Host, c.Port = rc.Config.NodeID, host, port
			}
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp, nil
	}
	resp.ErrorCode, resp.ErrorMessage = code, msg
	resp.NodeID, resp.Host, resp.Port = -1, "", -1
	if code == 0 {
		resp.NodeID, resp.Host, resp.Port = rc.Config.NodeID, host, port
	}
	return resp, nil
}
