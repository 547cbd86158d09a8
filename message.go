package sluice

import (
	"encoding/json"
	"errors"
	"time"
)

// Message is one message, as published or as received.
type Message struct {
	// Body is the payload (Kafka record value, SQS message body — must be valid UTF-8 text for SQS).
	Body []byte
	// Key: Kafka record key (partitioning, per-key ordering); SQS FIFO MessageGroupId. Optional.
	Key []byte
	// Attributes: Kafka headers / SQS String message attributes. Optional.
	Attributes map[string]string
	// DeduplicationID: SQS FIFO MessageDeduplicationId. Optional.
	DeduplicationID string
	// Delay: SQS DelaySeconds (rounded down, ≤ 15 min). Ignored by Kafka.
	Delay time.Duration

	// Set on received messages:
	ID           string    // SQS MessageId; Kafka "topic/partition/offset"
	Source       string    // topic or queue name
	Partition    int32     // Kafka
	Offset       int64     // Kafka
	Attempt      int       // 1 for the first delivery (SQS ApproximateReceiveCount; Kafka in-place attempt)
	Timestamp    time.Time // when published (Kafka record time; SQS SentTimestamp)
	FirstAttempt time.Time // first delivery attempt time (SQS ApproximateFirstReceiveTimestamp; Kafka: first handler run)

	// internal handle (receipt handle, etc.) — the worker/source's business
	handle any
}

// Diagnostics travel with a dead-lettered message, as ONE attribute/header named
// DiagnosticsAttribute holding this struct as JSON (SQS allows only 10 attributes).
type Diagnostics struct {
	Source        string    `json:"source"` // original topic/queue
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	FirstAttempt  time.Time `json:"first_attempt"`
	LastAttempt   time.Time `json:"last_attempt"`
	WorkerID      string    `json:"worker_id"` // hostname/pid or configured
	WorkerVersion string    `json:"worker_version"`
	Partition     *int32    `json:"partition,omitempty"` // Kafka
	Offset        *int64    `json:"offset,omitempty"`    // Kafka
}

// DiagnosticsAttribute is the attribute (SQS) / header (Kafka) name carrying Diagnostics as JSON.
const DiagnosticsAttribute = "sluice-diagnostics"

// DiagnosticsOf parses the diagnostics attached to a dead-lettered message. It reports false when
// the message has no DiagnosticsAttribute or its value is not valid diagnostics JSON.
func DiagnosticsOf(m *Message) (Diagnostics, bool) {
	if m == nil || m.Attributes == nil {
		return Diagnostics{}, false
	}
	raw, ok := m.Attributes[DiagnosticsAttribute]
	if !ok {
		return Diagnostics{}, false
	}
	var d Diagnostics
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return Diagnostics{}, false
	}
	return d, true
}

var (
	// ErrBufferFull: TryPublish at once when the local buffer is full; Publish after MaxBlock.
	ErrBufferFull = errors.New("sluice: producer buffer full")
	// ErrThrottled: depth-based throttling refuses at 100% of the configured depth/lag limit.
	ErrThrottled = errors.New("sluice: destination over its depth limit")
	// ErrClosed: the producer/worker/source was closed.
	ErrClosed = errors.New("sluice: closed")
)
