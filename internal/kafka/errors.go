package kafka

import (
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/topic"
)

// errTooManyFiles is the accept error worth retrying after a pause.
var errTooManyFiles = syscall.EMFILE

// errorTable translates domain errors into Kafka error codes. It is the
// only place where storage and topic errors meet the wire: handlers call
// errorCode at their edge. Order matters only where errors wrap each other.
var errorTable = []struct {
	err  error
	code *kerr.Error
}{
	{topic.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{topic.ErrTopicExists, kerr.TopicAlreadyExists},
	{topic.ErrInvalidTopicName, kerr.InvalidTopicException},
	{topic.ErrInvalidPartitions, kerr.InvalidPartitions},
	{topic.ErrInvalidConfig, kerr.InvalidConfig},
	{topic.ErrPolicyViolation, kerr.PolicyViolation},
	{logstore.ErrCorruptBatch, kerr.CorruptMessage},
	{logstore.ErrBatchTooLarge, kerr.MessageTooLarge},
	{logstore.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	// A closed or failed log cannot serve the partition: Kafka reports a
	// storage error so that clients refresh metadata and retry.
	{logstore.ErrClosed, kerr.KafkaStorageError},
	{logstore.ErrLogFailed, kerr.KafkaStorageError},
}

// errorCode returns the Kafka error code for err (0 for nil). Errors
// already carrying a Kafka code (*kerr.Error) keep it; anything unknown is
// UNKNOWN_SERVER_ERROR.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns a message for the ErrorMessage fields of responses
// that have one (nil for nil), so clients can show why.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
