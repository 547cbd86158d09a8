package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/queue"
	"github.com/sluice-mq/sluice/internal/topic"
)

// State is a prometheus.Collector that reads topics, groups and queues at
// scrape time. Any of its sources may be nil (their metrics are then
// absent). A scrape costs one pass over partitions, groups and queues;
// queue depth and age come from Queue.Stats, which reads at most one
// record from disk per queue.
type State struct {
	topics *topic.Registry
	groups *group.Coordinator
	queues *queue.Manager
	kafka  *Kafka
}

// NewState returns a collector over the given sources. kafka supplies the
// per-topic produced/fetched counters.
func NewState(topics *topic.Registry, groups *group.Coordinator, queues *queue.Manager, kafka *Kafka) *State {
	return &State{topics: topics, groups: groups, queues: queues, kafka: kafka}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

var (
	descTopicPartitions = desc("topic_partitions", "Partitions of a topic.", "topic")
	descLogStart        = desc("partition_log_start_offset", "First offset still retained in a partition.", "topic", "partition")
	descLogEnd          = desc("partition_log_end_offset", "High watermark of a partition: the offset the next record gets.", "topic", "partition")
	descLogBytes        = desc("partition_size_bytes", "Bytes a partition's log takes on disk.", "topic", "partition")
	descProducedRecords = desc("topic_produced_records_total", "Records accepted by Produce requests since the broker started.", "topic")
	descProducedBytes   = desc("topic_produced_bytes_total", "Record-batch bytes accepted by Produce requests since the broker started.", "topic")
	descFetchedRecords  = desc("topic_fetched_records_total", "Records returned by Fetch requests since the broker started (whole batches).", "topic")
	descFetchedBytes    = desc("topic_fetched_bytes_total", "Record-batch bytes returned by Fetch requests since the broker started.", "topic")

	descGroupMembers   = desc("group_members", "Members of a consumer group.", "group")
	descGroupCommitted = desc("group_committed_offset", "Offset a consumer group committed for a partition.", "group", "topic", "partition")
	descGroupLag       = desc("group_lag", "Records between a group's committed offset and the partition's high watermark.", "group", "topic", "partition")

	descQueueVisible  = desc("queue_visible_messages", "Messages available for retrieval (ApproximateNumberOfMessages).", "queue")
	descQueueInflight = desc("queue_inflight_messages", "Messages received and not yet deleted or visible again (ApproximateNumberOfMessagesNotVisible).", "queue")
	descQueueDelayed  = desc("queue_delayed_messages", "Messages not yet visible because of a delay (ApproximateNumberOfMessagesDelayed).", "queue")
	descQueueOldest   = desc("queue_oldest_message_age_seconds", "Age of the oldest live message of a queue; 0 when empty.", "queue")
	descQueueSent     = desc("queue_sent_messages_total", "Messages added to a queue since the broker started: sends, and moves into it (dead-lettering, redrive).", "queue")
	descQueueReceived = desc("queue_received_messages_total", "Messages received from a queue since the broker started.", "queue")
	descQueueDeleted  = desc("queue_deleted_messages_total", "Messages deleted from a queue since the broker started, purges included (moves out are not deletes).", "queue")
	descQueueDead     = desc("queue_dead_lettered_messages_total", "Messages a queue moved to its dead-letter queue since the broker started.", "queue")
)

// Describe implements prometheus.Collector.
func (s *State) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descTopicPartitions, descLogStart, descLogEnd, descLogBytes,
		descProducedRecords, descProducedBytes, descFetchedRecords, descFetchedBytes,
		descGroupMembers, descGroupCommitted, descGroupLag,
		descQueueVisible, descQueueInflight, descQueueDelayed, descQueueOldest,
		descQueueSent, descQueueReceived, descQueueDeleted, descQueueDead,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *State) Collect(ch chan<- prometheus.Metric) {
	s.collectTopics(ch)
	s.collectGroups(ch)
	s.collectQueues(ch)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (s *State) collectTopics(ch chan<- prometheus.Metric) {
	if s.topics == nil {
		return
	}
	live := map[string]bool{}
	for _, t := range s.topics.List() {
		name := t.Name()
		live[name] = true
		n := t.NumPartitions()
		gauge(ch, descTopicPartitions, float64(n), name)
		for p := range n {
			l := t.Partition(p)
			if l == nil {
				continue
			}
			ps := strconv.Itoa(int(p))
			gauge(ch, descLogStart, float64(l.StartOffset()), name, ps)
			gauge(ch, descLogEnd, float64(l.HighWatermark()), name, ps)
			gauge(ch, descLogBytes, float64(l.Size()), name, ps)
		}
		if s.kafka != nil {
			tr := s.kafka.Traffic(name)
			counter(ch, descProducedRecords, float64(tr.ProducedRecords), name)
			counter(ch, descProducedBytes, float64(tr.ProducedBytes), name)
			counter(ch, descFetchedRecords, float64(tr.FetchedRecords), name)
			counter(ch, descFetchedBytes, float64(tr.FetchedBytes), name)
		}
	}
	if s.kafka != nil {
		s.kafka.forget(func(n string) bool { return live[n] })
	}
}

func (s *State) collectGroups(ch chan<- prometheus.Metric) {
	if s.groups == nil {
		return
	}
	for _, g := range s.groups.List() {
		if d, err := s.groups.Describe(g.Group); err == nil {
			gauge(ch, descGroupMembers, float64(len(d.Members)), g.Group)
		}
		lags, err := s.groups.Lag(g.Group)
		if err != nil {
			continue
		}
		for _, l := range lags {
			if l.Committed < 0 {
				continue
			}
			ps := strconv.Itoa(int(l.Partition))
			gauge(ch, descGroupCommitted, float64(l.Committed), g.Group, l.Topic, ps)
			if l.Lag >= 0 {
				gauge(ch, descGroupLag, float64(l.Lag), g.Group, l.Topic, ps)
			}
		}
	}
}

func (s *State) collectQueues(ch chan<- prometheus.Metric) {
	if s.queues == nil {
		return
	}
	for _, q := range s.queues.List("") {
		name := q.Name()
		st := q.Stats()
		gauge(ch, descQueueVisible, float64(st.Visible), name)
		gauge(ch, descQueueInflight, float64(st.InFlight), name)
		gauge(ch, descQueueDelayed, float64(st.Delayed), name)
		gauge(ch, descQueueOldest, float64(st.OldestAgeSeconds), name)
		counter(ch, descQueueSent, float64(st.Sent), name)
		counter(ch, descQueueReceived, float64(st.Received), name)
		counter(ch, descQueueDeleted, float64(st.Deleted), name)
		counter(ch, descQueueDead, float64(st.DeadLettered), name)
	}
}
