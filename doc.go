// Package sluice is the Go SDK of Sluice: producers and workers for the
// patterns that put a queue between a service that accepts work and the
// workers that do it — against a Sluice broker, a Kafka cluster or Amazon
// SQS alike. The same worker code runs on any of them; only the address
// changes.
//
// # Producers
//
// [NewKafkaProducer] (on franz-go) and [NewSQSProducer] (on aws-sdk-go-v2)
// return a [Producer]:
//
//   - [Producer.PublishSync] returns after the broker acknowledged the
//     messages (confirmed publishing);
//   - [Producer.Publish] hands a message to a bounded buffer and returns;
//     when the buffer is full it blocks up to MaxBlock, then fails with
//     [ErrBufferFull]; delivery failures go to OnError, never silently
//     dropped;
//   - [Producer.TryPublish] refuses at once with [ErrBufferFull];
//   - with a [ThrottleConfig], publishing slows down past 80% of a queue's
//     depth or a group's lag and is refused with [ErrThrottled] at 100%
//     ([Producer.Pressure] says where it stands).
//
// Kafka producers take Kafka's names (batch.size, linger.ms,
// compression.type, acks, buffer.memory, max.block.ms); SQS producers send
// SendMessageBatch-sized batches with a linger.
//
// # Workers
//
// A [Worker] pulls from a [Source] — [NewKafkaSource] (a topic through a
// consumer group) or [NewSQSSource] (a queue) — into a prefetch buffer and
// runs a [Handler] or a [BatchHandler] with configurable concurrency:
//
//   - retries with exponential backoff and jitter ([RetryPolicy]): SQS
//     messages are handed back with ChangeMessageVisibility, Kafka records
//     are retried in place; after MaxAttempts the message goes to the
//     dead-letter destination carrying [Diagnostics] (attempts, last error,
//     first and last attempt, worker identity and version) in the
//     [DiagnosticsAttribute];
//   - Kafka offsets are committed only below the lowest unfinished record
//     of each partition, so a failed record is never skipped; OrderByKey
//     keeps per-key order while partitions are processed in parallel;
//   - long SQS handlers keep their lease (visibility is extended);
//   - a rate limit, a circuit breaker that pauses fetching while open (so
//     messages stay queued instead of burning delivery attempts) and
//     per-handler timeouts;
//   - autoscaling of the concurrency between a minimum and a maximum from
//     the backlog's depth or age ([AutoscaleConfig]);
//   - graceful shutdown: stop pulling, finish in-flight work within a
//     deadline, hand back what did not start, acknowledge what finished;
//   - Prometheus metrics and log/slog logs.
//
// [Redrive] moves dead letters back to their source, all of them or those
// matching a filter on error text, attributes or age, with a dry run and a
// rate limit; `sluice dlq redrive` is the same from the command line.
//
// # Transactional outbox
//
// Package [github.com/sluice-mq/sluice/outbox] enqueues messages in the
// same database transaction as the business write (PostgreSQL through
// pgx, SQLite as the embedded default) and relays them to a topic or a
// queue; its Inbox makes a consumer idempotent.
//
// # Tests
//
// Package [github.com/sluice-mq/sluice/sluicetest] runs a real, durable
// broker in-process for your tests.
package sluice
