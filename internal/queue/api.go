// Package queue implements Amazon SQS semantics — leases (visibility
// timeouts), receive counts, delays, retention, dead-letter queues, message
// move tasks and FIFO queues — over Sluice's own storage. internal/sqs
// speaks the wire; this package owns the rules and the data.
//
// Storage, per queue, under <data-dir>/queues/<name>/:
//
//	msgs/          a logstore.Log of messages: one Kafka v2 record batch per
//	               Send call (record.go documents the record encoding)
//	state.snap     the delivery state at the last checkpoint (snapshot.go)
//	state.journal  what happened since: leases, visibility changes, deletes,
//	               purges, copies (journal.go)
//
// The catalog (names, attributes, tags) is internal/metastore's
// queues.meta.
//
// What is durable when:
//
//   - A send is answered after the fsync that covers its batch (the log's
//     group commit); so is every message moved into a queue.
//   - A receive is answered after its leases (new receive counts) are in
//     the journal and fsynced; a delete, visibility change or purge, after
//     its journal record is. Concurrent operations share fsyncs.
//   - A restart (clean or a crash) brings back every message that was sent
//     and not deleted, with its receive count, first-receive time and
//     current lease (receipt handles stay valid), the FIFO deduplication
//     window and sequence numbers. Delays are recovered from the log.
//
// At-least-once caveats: a delete that was sent but not yet answered when
// the broker died may or may not have happened; a message being moved
// (to a dead-letter queue, by a move task, or copied forward within its
// queue) when the broker died may exist in both places afterwards. Receive
// request attempt IDs, move tasks and the 60-second purge timer are kept
// in memory only.
//
// Memory grows with the messages that need individual tracking (in flight,
// waiting for redelivery, delayed, deleted out of order), not with the
// backlog: never-received messages are read from the log as receives
// reach them (state.go).
package queue

import (
	"log/slog"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
)

// Config configures a Manager. The zero value of every field but Meta and
// DataDir is usable.
type Config struct {
	// DataDir is <data-dir>; queues live under <data-dir>/queues/<name>/.
	// Required.
	DataDir string
	// Meta persists the queue catalog (names, attributes, tags). Required.
	Meta *metastore.Store
	// Region and AccountID appear in ARNs. Defaults "us-east-1" and
	// "000000000000".
	Region, AccountID string
	// Logger receives recovery reports and background errors. Default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time; tests set it. Default time.Now.
	Now func() time.Time
}

// MessageAttributeValue is one message attribute (or system attribute).
type MessageAttributeValue struct {
	// DataType is "String", "Number" or "Binary", with an optional
	// ".custom" suffix.
	DataType    string
	StringValue *string
	BinaryValue []byte
}

// SendInput is one message to send.
type SendInput struct {
	ID               string // batch entry id (echoed by sqs; the engine ignores it)
	Body             string
	Attributes       map[string]MessageAttributeValue
	SystemAttributes map[string]MessageAttributeValue // AWSTraceHeader only
	DelaySeconds     *int                             // nil = queue default; FIFO queues refuse per-message delay
	GroupID, DedupID string                           // FIFO
}

// SendResult is the outcome of one SendInput.
type SendResult struct {
	MessageID      string
	SequenceNumber string // FIFO
	Err            error  // per-entry error (*Error)
}

// ReceiveInput tunes one Receive.
type ReceiveInput struct {
	Max               int            // 1..10 (0 means 1)
	VisibilityTimeout *int           // nil = queue default
	WaitTime          *time.Duration // nil = queue ReceiveMessageWaitTimeSeconds
	AttemptID         string         // FIFO ReceiveRequestAttemptId
}

// Message is a received (or peeked) message.
type Message struct {
	MessageID, ReceiptHandle, Body       string
	Attributes                           map[string]MessageAttributeValue
	SystemAttributes                     map[string]MessageAttributeValue
	SentTimestamp, FirstReceiveTimestamp int64 // ms since the epoch
	ReceiveCount                         int
	SenderID                             string
	GroupID, DedupID, SequenceNumber     string

	offset int64 // position in the queue's log (Peek → Redrive)
}

// Stats are a queue's counters. Visible, InFlight and Delayed are the
// Approximate* attributes; Sent … DeadLettered count since Open.
type Stats struct {
	Visible, InFlight, Delayed int64
	OldestAgeSeconds           int64
	Sent, Received, Deleted    int64
	DeadLettered               int64
}

// MoveTask describes a message move task (StartMessageMoveTask).
type MoveTask struct {
	TaskHandle, Status, SourceARN, DestinationARN string
	MaxPerSecond                                  int
	Moved, ToMove                                 int64
	StartedTimestamp                              int64
	FailureReason                                 string
}
