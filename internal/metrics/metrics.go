// Package metrics exposes the broker's Prometheus metrics.
//
// Two kinds of sources feed it, chosen so that the data path pays as little
// as possible:
//
//   - State is a prometheus.Collector that reads live state at scrape time
//     (partition offsets and sizes, group offsets and lag, queue depths and
//     counters): nothing is updated per message.
//   - Kafka, SQS and the fsync histogram count what state does not keep:
//     requests and their latency per API / action (children resolved once
//     per API key or action and cached, so an observation is a few atomic
//     adds with no allocation), open connections, and records and bytes
//     produced and fetched per topic (counted per request from the batch
//     headers, not per record).
//
// Metrics (all names follow Prometheus conventions: base units, _total for
// counters):
//
//	sluice_build_info{version}                                   1
//	sluice_topic_partitions{topic}                               partitions of a topic
//	sluice_partition_log_start_offset{topic,partition}           first retained offset
//	sluice_partition_log_end_offset{topic,partition}             high watermark
//	sluice_partition_size_bytes{topic,partition}                 bytes on disk
//	sluice_topic_produced_records_total{topic}                   records accepted by Produce
//	sluice_topic_produced_bytes_total{topic}                     record-batch bytes accepted by Produce
//	sluice_topic_fetched_records_total{topic}                    records returned by Fetch (whole batches)
//	sluice_topic_fetched_bytes_total{topic}                      record-batch bytes returned by Fetch
//	sluice_group_members{group}                                  members of a consumer group
//	sluice_group_committed_offset{group,topic,partition}         committed offset
//	sluice_group_lag{group,topic,partition}                      high watermark - committed offset
//	sluice_queue_visible_messages{queue}                         ApproximateNumberOfMessages
//	sluice_queue_inflight_messages{queue}                        ApproximateNumberOfMessagesNotVisible
//	sluice_queue_delayed_messages{queue}                         ApproximateNumberOfMessagesDelayed
//	sluice_queue_oldest_message_age_seconds{queue}               age of the oldest live message
//	sluice_queue_sent_messages_total{queue}                      messages sent or moved in (since start)
//	sluice_queue_received_messages_total{queue}                  messages received
//	sluice_queue_deleted_messages_total{queue}                   messages deleted
//	sluice_queue_dead_lettered_messages_total{queue}             messages moved to its DLQ
//	sluice_kafka_requests_total{api}                             Kafka requests served
//	sluice_kafka_request_duration_seconds{api}                   histogram, decode to response ready
//	sluice_sqs_requests_total{action}                            SQS requests served
//	sluice_sqs_request_errors_total{action}                      SQS requests answered with an error
//	sluice_sqs_request_duration_seconds{action}                  histogram
//	sluice_open_connections{listener="kafka"|"sqs"}              client connections open now
//	sluice_log_fsync_duration_seconds                            histogram of log fsyncs (fdatasync)
//	sluice_alert_firing{rule}                                    1 while an alert rule fires (internal/alert)
//
// plus the Go runtime (go_*) and process (process_*) collectors.
package metrics

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every Sluice metric.
const Namespace = "sluice"

// Buckets of the request latency histograms: from half a millisecond (a
// metadata request) to 30 s (an SQS long poll of 20 s plus slack).
var requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30}

// Version returns the main module's version ("devel" for a source build).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// NewRegistry returns a registry holding the Go and process collectors,
// sluice_build_info, the process-wide fsync histogram and cs.
func NewRegistry(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	r := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": Version()},
	})
	build.Set(1)
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
		fsyncSeconds,
	}, cs...)
	for _, c := range all {
		if c == nil {
			continue
		}
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}
