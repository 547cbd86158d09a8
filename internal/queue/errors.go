package queue

import (
	"errors"
	"fmt"
)

// SQS error codes (the JSON model's shape names) that the engine returns
// in an *Error. internal/sqs maps each to its wire forms.
const (
	CodeQueueDoesNotExist = "QueueDoesNotExist"
	// CodeQueueNameExists is the JSON model's shape name; its Query code
	// is "QueueAlreadyExists".
	CodeQueueNameExists              = "QueueNameExists"
	CodeQueueDeletedRecently         = "QueueDeletedRecently"
	CodeInvalidAttributeName         = "InvalidAttributeName"
	CodeInvalidAttributeValue        = "InvalidAttributeValue"
	CodeInvalidParameterValue        = "InvalidParameterValue"
	CodeMissingParameter             = "MissingParameter"
	CodeReceiptHandleIsInvalid       = "ReceiptHandleIsInvalid"
	CodeMessageNotInflight           = "MessageNotInflight"
	CodePurgeQueueInProgress         = "PurgeQueueInProgress"
	CodeMessageTooLong               = "MessageTooLong"
	CodeOverLimit                    = "OverLimit"
	CodeRequestThrottled             = "RequestThrottled"
	CodeResourceNotFound             = "ResourceNotFoundException"
	CodeUnsupportedOperation         = "UnsupportedOperation"
	CodeInvalidMessageContents       = "InvalidMessageContents"
	CodeInvalidBatchEntryID          = "InvalidBatchEntryId"
	CodeInvalidIDFormat              = "InvalidIdFormat"
	CodeKmsAccessDenied              = "KmsAccessDenied"
	CodeInternalError                = "InternalError"
	CodeInvalidAddress               = "InvalidAddress"
	CodeInvalidSecurity              = "InvalidSecurity"
	CodeTooManyEntriesInBatchRequest = "TooManyEntriesInBatchRequest"
	CodeEmptyBatchRequest            = "EmptyBatchRequest"
	CodeBatchEntryIdsNotDistinct     = "BatchEntryIdsNotDistinct"
)

// Sentinels. Every *Error unwraps to ErrSQS; storage trouble wraps
// ErrStorage; a closed manager or queue returns ErrClosed.
var (
	ErrSQS     = errors.New("queue: SQS error")
	ErrClosed  = errors.New("queue: closed")
	ErrStorage = errors.New("queue: storage error")
	ErrCorrupt = errors.New("queue: corrupt state file")
)

// Error carries an SQS error code; internal/sqs translates it to both wire
// forms with its table.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "queue: " + e.Code + ": " + e.Message }

// Unwrap returns ErrSQS.
func (e *Error) Unwrap() error { return ErrSQS }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the SQS code of err ("" when it carries none).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// CorruptError reports a queue state file that failed its checks.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("queue: corrupt file %s: %s", e.Path, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
