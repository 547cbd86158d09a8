// Package broker is the embeddable Sluice broker: Open a data directory,
// Start serving the Kafka protocol, the SQS API and HTTP (health check,
// metrics, admin API, dashboard), Close.
//
//	b, err := broker.Open(broker.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0"})
//	if err != nil { … }
//	defer b.Close()
//	if err := b.Start(); err != nil { … }
//	seeds := b.Addrs().Kafka // point any Kafka client here
//
// Go tests and small programs can run a real, durable broker in-process
// this way; `sluice serve` is a thin wrapper around the same calls.
//
// # Data directory
//
//	<DataDir>/LOCK                          flock held while open (one broker per directory)
//	<DataDir>/meta/                         cluster ID, topic catalog, producer IDs (internal/metastore)
//	<DataDir>/topics/<topic>-<partition>/   one log per partition (internal/logstore)
//	<DataDir>/groups/                       committed offsets and group metadata, a journal in
//	                                        __consumer_offsets' record format (internal/group)
//
// A second Open of a directory that is in use fails at once with a
// *DataDirInUseError ("data directory … is in use by another sluice
// process"). The lock is an flock(2), so a crashed broker leaves no stale
// lock.
//
// # Settings
//
// Config.Settings takes broker settings by their Kafka names (the keys of
// Kafka's server.properties; ReadPropertiesFile reads that format). An
// unknown name is an error, to catch typos. Accepted:
//
// Applied:
//
//	auto.create.topics.enable        true|false; default true
//	num.partitions                   partitions of auto-created topics; default 1
//	socket.request.max.bytes         largest request frame; default 104857600
//	message.max.bytes                default max.message.bytes of topics; default 1048588
//	log.segment.bytes                default segment.bytes; default 1073741824
//	log.roll.ms, log.roll.hours      default segment.ms; default 7 days
//	log.retention.ms|minutes|hours   default retention.ms (ms wins over minutes over hours;
//	                                 -1: keep forever); default 168 hours
//	log.retention.bytes              default retention.bytes; default -1 (no limit)
//	log.retention.check.interval.ms  how often retention runs; default 300000
//	log.index.interval.bytes         default index.interval.bytes; default 4096
//	log.flush.policy                 Sluice: default sluice.flush.policy, always|interval|none;
//	                                 default always (a produce is answered after its fsync)
//	log.flush.interval.ms            default flush.ms, used with the interval policy; default 1000
//	log.cleanup.policy               only "delete" (no compaction)
//	log.message.timestamp.type       only "CreateTime"
//	compression.type                 only "producer" (batches are never recompressed)
//	group.initial.rebalance.delay.ms  wait before the first rebalance of an empty group; default 3000
//	group.min.session.timeout.ms     smallest session.timeout.ms a consumer may ask; default 6000
//	group.max.session.timeout.ms     largest session.timeout.ms; default 1800000
//	group.max.size                   members per group; default 2147483647
//	offsets.retention.minutes        committed offsets of a group empty this long are
//	                                 deleted; default 10080 (7 days)
//	offsets.retention.check.interval.ms  how often offsets expire; default 600000
//	offset.metadata.max.bytes        metadata of a committed offset; default 4096
//
// Operations (Sluice's own; the HTTP listener is Config.HTTPAddr, see
// docs/admin-api.md):
//
//	http.auth.token                  a bearer token the admin API requires ("Authorization:
//	                                 Bearer <token>"; the dashboard asks for it); default none
//	http.auth.basic                  user:password for HTTP basic auth on the admin API and
//	                                 the dashboard, accepted as well; default none.
//	                                 /healthz never needs credentials.
//	http.auth.metrics                true: /metrics needs the credentials too; default false
//	http.history.interval            sampling interval of the dashboard history (100ms-24h); default 10s
//	http.history.window              history kept in memory; default 1h
//
// Alerts: rules named by the operator, each with kind, target and
// threshold (required) and for (optional); webhooks receive JSON
// notifications (internal/alert.Notification) when a rule fires and when
// it resolves:
//
//	alert.<rule>.kind                dlq_depth    messages in the target queue's dead-letter
//	                                              queue (or in the target, if it has no
//	                                              RedrivePolicy)
//	                                 oldest_age   age of the target queue's oldest message
//	                                 queue_depth  visible messages of the target queue
//	                                 lag          lag of the target consumer group
//	alert.<rule>.target              a queue; for lag a group id, or group/topic
//	alert.<rule>.topic               lag only: the topic (the target is then the whole group id)
//	alert.<rule>.threshold           fires when the value is above it; oldest_age takes
//	                                 seconds or a duration (90s, 1h)
//	alert.<rule>.for                 how long the value must stay above (5m, or seconds); default 0
//	alert.webhook.url                a webhook (http or https); more as alert.webhook.<id>.url
//	alert.webhook[.<id>].header.<H>  a request header for that webhook (e.g. Authorization)
//	alert.webhook.retries            retries after a failed POST (network error, 5xx, 429); default 5
//	alert.webhook.backoff            first retry delay, doubling up to 1m; default 1s
//	alert.webhook.timeout            per POST; default 10s
//	alert.webhook.resolved           send resolved notifications; default true
//	alert.interval                   how often rules are evaluated; default 5s
//
// A rule name is letters, digits, '_' and '-'. For example:
//
//	alert.jobs-dlq.kind=dlq_depth
//	alert.jobs-dlq.target=jobs
//	alert.jobs-dlq.threshold=0
//	alert.jobs-dlq.for=1m
//	alert.webhook.url=https://hooks.example.com/sluice
//
// A firing rule is logged, listed by /api/alerts and the dashboard, and
// exported as sluice_alert_firing{rule}=1.
//
// Fixed by being a single node (any other value is an error):
//
//	broker.id, node.id = 0
//	default.replication.factor, min.insync.replicas,
//	offsets.topic.replication.factor, transaction.state.log.replication.factor,
//	transaction.state.log.min.isr = 1
//
// Accepted and ignored (checked to be integers; they tune parts of Kafka
// that Sluice does not have): num.network.threads, num.io.threads,
// num.recovery.threads.per.data.dir, socket.send.buffer.bytes,
// socket.receive.buffer.bytes, offsets.topic.num.partitions.
//
// Refused with a hint, because Sluice configures them elsewhere: log.dir and
// log.dirs (use DataDir), listeners and advertised.listeners (use
// KafkaAddr; clients are told the address they connected to),
// zookeeper.connect, process.roles.
package broker
