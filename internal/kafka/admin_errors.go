package kafka

// Errors of the admin APIs (CreateTopics, DeleteTopics, DeleteRecords,
// DescribeConfigs, AlterConfigs, CreatePartitions, IncrementalAlterConfigs,
// DescribeCluster).
//
// Domain errors (topic.Err…, logstore.Err…) become wire codes only at the
// handler edge, through errorCode/errorMessage and the catalogue in
// errors.go. The checks that exist only in the protocol (replication
// factors, replica assignments, duplicate entries in one request, resource
// types) are made by the handlers themselves and reported as an *apiError,
// which carries the Kafka code and a message in Kafka's words; errorCode
// finds the code through Unwrap and errorMessage sends the message alone.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// apiError is a refusal decided by a handler: a Kafka error code and the
// message sent in the response's ErrorMessage field.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// Unwrap returns the Kafka error, so that errorCode maps it to its code.
func (e *apiError) Unwrap() error { return e.code }

// refuse builds an *apiError with a formatted message.
func refuse(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// adminErr returns the error code and message for a response entry.
func adminErr(err error) (int16, *string) {
	return errorCode(err), errorMessage(err)
}
