// Package outbox is the transactional outbox and the idempotent-consumer
// inbox of the Sluice SDK.
//
// # Outbox
//
// A service that writes to its database and publishes an event must not
// publish for a write that rolled back, nor lose the event of a write that
// committed. With an outbox the event is a row written in the same
// transaction as the business data (Enqueue); a Relay publishes pending
// rows to Kafka or SQS afterwards and marks them sent.
//
//	tx, _ := pool.Begin(ctx)                  // the application's transaction
//	tx.Exec(ctx, `INSERT INTO orders …`)
//	store.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Key: k, Body: b})
//	tx.Commit(ctx)                            // the event exists iff the order does
//
//	relay, _ := outbox.NewRelay(outbox.RelayConfig{Store: store, Publisher: kafkaPublisher})
//	go relay.Run(ctx)
//
// Stores: PostgresStore (pgx; Enqueue takes a pgx.Tx) and SQLiteStore
// (modernc.org/sqlite, pure Go, the embedded default; Enqueue takes a
// *sql.Tx). Each documents its schema at the top of its file; Migrate
// creates it. Publishers: KafkaPublisher (franz-go, acks=all, idempotent),
// SQSPublisher (aws-sdk-go-v2 SendMessageBatch), ProducerPublisher (the
// SDK's own producers), or any Publisher.
//
// # Delivery guarantees
//
// At least once. A relay publishes a batch and then records it as sent; if
// it dies between the broker's acknowledgement and that record, the batch
// is published again after a restart (PostgreSQL: at once, the dead
// connection's row locks are released; SQLite: when the claim's lease
// expires). That window is one batch (RelayConfig.BatchSize). Every
// published message carries its outbox ID in the IDAttribute header or
// attribute, so consumers discard the repeats with an Inbox.
//
// In normal operation each row is published once, even with several
// relays: on PostgreSQL they claim rows with SELECT … FOR UPDATE SKIP
// LOCKED and publish while holding the locks; on SQLite claims are leases
// taken in BEGIN IMMEDIATE transactions, so relays on one file take turns.
// A row whose publish failed is retried with exponential backoff, forever
// (its attempts and last error are in the table); while it waits, later
// rows go ahead, so order is per batch, not absolute.
//
// Wake-ups: PostgreSQL notifies the relay from an insert trigger
// (LISTEN/NOTIFY, delivered at commit); a SQLiteStore opened from a path
// notices its own commits through SQLite hooks. Both fall back to polling
// (RelayConfig.PollInterval), which also picks up rows whose retry delay
// passed. Sent rows are deleted after RelayConfig.Retention.
//
// # Inbox
//
// Inbox.Process records (consumer, message id) in the handler's own
// transaction with INSERT … ON CONFLICT DO NOTHING and reports whether the
// message is new; the handler applies its effects only then. A rolled-back
// handler leaves no record, so the redelivery is processed; a committed one
// makes every redelivery a no-op.
package outbox
