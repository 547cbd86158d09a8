package kafka

// InitProducerId (key 22), versions 0-4 served.
//
// Without a transactional id (the idempotent producer), a request with
// producer id -1 gets a fresh producer id (allocated durably from the
// metastore in blocks) and epoch 0. From v3 a producer may pass its
// current id and epoch (KIP-360, after it lost track of its sequences):
// it gets the same id with epoch+1, or a fresh id when the epoch would
// overflow or the id was not issued by this broker; an epoch other than
// the latest handed out for that id is INVALID_PRODUCER_EPOCH.
//
// Skipped: transactions. A request with a transactional id is answered
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (a non-retriable error that
// clients report at once). v5+ (transactions v2, two-phase commit).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 22, MinVersion: 0, MaxVersion: 4, Handle: handleInitProducerID})
}

func handleInitProducerID(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	var (
		id    int64
		epoch int16
		err   error
	)
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 {
		id, epoch, err = rc.Server.producers.bumpEpoch(req.ProducerID, req.ProducerEpoch)
	} else {
		id, err = rc.Server.producers.allocateProducerID()
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if resp.ErrorCode == kerr.UnknownServerError.Code {
			rc.Logger.Error("kafka: producer id allocation failed", "err", err)
		}
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp, nil
}
