package outbox

import (
	"context"
	"time"
)

// Inbox is the idempotent-consumer half of the pattern: a handler records
// the id of each message it processes in the same database transaction as
// its effects, so a redelivered message (Kafka after a rebalance, SQS after
// a visibility timeout, an outbox relay's at-least-once window) is noticed
// and skipped. Tx is pgx.Tx (PostgresStore.Inbox) or *sql.Tx
// (SQLiteStore.Inbox).
//
//	first, err := inbox.Process(ctx, tx, "billing", m.Attributes[outbox.IDAttribute])
//	if err != nil { return err }
//	if first { …apply the effects in tx… }
//	return tx.Commit(ctx)
type Inbox[Tx any] struct {
	process func(ctx context.Context, tx Tx, consumer, id string) (bool, error)
	cleanup func(ctx context.Context, before time.Time) (int64, error)
}

// Limits of Process's arguments.
const (
	maxConsumerLen = 200
	maxInboxIDLen  = 1024
)

// Process records that consumer processed messageID, inside tx, and
// reports whether this is the first time (INSERT … ON CONFLICT DO NOTHING).
// When first is false the handler must skip the message's effects. If tx
// rolls back, so does the record: the message counts as unprocessed. Two
// transactions recording the same id at once serialize on the row; the
// second sees first == false once the first commits.
func (i *Inbox[Tx]) Process(ctx context.Context, tx Tx, consumer, messageID string) (first bool, err error) {
	switch {
	case consumer == "" || len(consumer) > maxConsumerLen:
		return false, &ConfigError{Field: "Inbox.Process consumer", Reason: "must be 1…200 bytes"}
	case messageID == "" || len(messageID) > maxInboxIDLen:
		return false, &MessageError{Field: "Inbox.Process messageID", Reason: "must be 1…1024 bytes"}
	}
	return i.process(ctx, tx, consumer, messageID)
}

// Cleanup forgets ids processed before processedBefore and reports how
// many. Keep ids longer than any redelivery can take (SQS retention, Kafka
// retention of an uncommitted offset, the outbox relay's retry horizon).
func (i *Inbox[Tx]) Cleanup(ctx context.Context, processedBefore time.Time) (int64, error) {
	return i.cleanup(ctx, processedBefore)
}
