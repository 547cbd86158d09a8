package sluice

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Handler processes one message. A nil error acknowledges it; an error makes the worker retry it
// (with backoff) until RetryPolicy.MaxAttempts, then dead-letter it with Diagnostics.
// The context carries the per-handler timeout and is cancelled when the worker gives up on the message.
type Handler func(ctx context.Context, m *Message) error

// BatchHandler processes up to WorkerConfig.BatchSize messages at once. A plain error means every
// message of the batch failed; return a *BatchError to fail only some of them.
type BatchHandler func(ctx context.Context, ms []*Message) error

// BatchError reports a partial batch failure: Failed maps an index into the batch slice to the
// error for that message. Messages not in Failed succeeded.
type BatchError struct {
	Failed map[int]error
}

func (e *BatchError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "sluice: %d message(s) of the batch failed", len(idx))
	for n, i := range idx {
		if n == 3 {
			b.WriteString("; …")
			break
		}
		fmt.Fprintf(&b, "; [%d]: %v", i, e.Failed[i])
	}
	return b.String()
}

// Source is where a Worker gets its messages: an SQS queue (NewSQSSource) or a Kafka topic read
// through a consumer group (NewKafkaSource). A Source is safe for concurrent use by one Worker.
type Source interface {
	// Fetch blocks until at least one message is available or ctx ends; returns at most max.
	// While the source is paused Fetch waits (it does not fail).
	Fetch(ctx context.Context, max int) ([]*Message, error)
	// Ack marks messages handled (SQS: batched DeleteMessageBatch; Kafka: done — the source commits
	// offsets below the lowest unfinished record per partition).
	Ack(ctx context.Context, ms ...*Message) error
	// Retry hands a message back for another attempt after delay. Sources that cannot redeliver
	// (Kafka) report InPlaceRetry() == true and the worker retries in place instead.
	Retry(ctx context.Context, m *Message, delay time.Duration) error
	// InPlaceRetry reports whether the worker must retry failed messages itself (Kafka) rather
	// than hand them back with Retry (SQS).
	InPlaceRetry() bool
	// DeadLetter moves the message to the source's dead-letter destination with d attached as the
	// DiagnosticsAttribute (SQS: send to the DLQ queue URL then delete; Kafka: produce to the DLQ
	// topic with original headers + diagnostics header, then mark done). Error if no DLQ configured.
	DeadLetter(ctx context.Context, m *Message, d Diagnostics) error
	// Extend keeps a long-running message leased for another `by` from now
	// (SQS ChangeMessageVisibility; Kafka no-op).
	Extend(ctx context.Context, m *Message, by time.Duration) error
	// Backlog reports the depth (SQS ApproximateNumberOfMessages[+Delayed]) or lag (Kafka group
	// lag) and the oldest waiting message's age when known — for autoscaling.
	Backlog(ctx context.Context) (Backlog, error)
	// Pause stops fetching (circuit breaker open) without losing assignment or leases; Resume
	// starts again. Both are idempotent.
	Pause()
	Resume()
	// Close commits/deletes what finished, releases the rest and stops the source's goroutines.
	Close(ctx context.Context) error
}

// Backlog is a Source's view of the work waiting for it.
type Backlog struct {
	// Depth is the number of messages waiting (SQS) or the group's lag (Kafka).
	Depth int64
	// OldestAge is the age of the oldest waiting message; 0 when unknown.
	OldestAge time.Duration
}

// releaser is implemented by sources that can hand unstarted messages back at once on shutdown
// (SQS: ChangeMessageVisibility 0). Sources without it simply never ack them (Kafka: the
// offset is not committed, so the next owner of the partition reads them again).
type releaser interface {
	Release(ctx context.Context, ms ...*Message) error
}
