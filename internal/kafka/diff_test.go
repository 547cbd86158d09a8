package kafka

// Differential tests: every scenario below runs against Sluice's
// in-process broker and against franz-go's in-memory reference broker
// kfake, and records what a client sees as "key = value" observations
// (error codes by name, offsets, record fields). The two sets must be
// equal, except for the keys a scenario lists in deviations: there kfake
// departs from Apache Kafka's documented behaviour (or its source), and the
// test holds Sluice to Kafka's answer instead, with the reason beside it.
//
// Raw requests go over one plain connection at pinned versions that both
// brokers serve, so that version negotiation cannot make the two differ;
// kgo is used where the client-side view (records, headers, timestamps)
// is the point.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// diffEnv is one broker under comparison.
type diffEnv struct {
	name string
	addr string
	t    *testing.T
	raw  *rawConn
}

// client returns a kgo client of the broker, closed on cleanup.
func (e *diffEnv) client(opts ...kgo.Opt) *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		e.t.Fatalf("%s: kgo client: %v", e.name, err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// rt sends one raw request at the version set in it.
func (e *diffEnv) rt(req kmsg.Request) kmsg.Response {
	e.t.Helper()
	return e.raw.roundTrip(req)
}

// obs collects observations of one run.
type obs map[string]string

func (o obs) set(key string, format string, args ...any) { o[key] = fmt.Sprintf(format, args...) }

// code records an error code by its name ("NONE" for 0).
func (o obs) code(key string, c int16) {
	if err := kerr.ErrorForCode(c); err != nil {
		o[key] = err.(*kerr.Error).Message
	} else {
		o[key] = "NONE"
	}
}

// createTopic creates a topic by a raw CreateTopics v5 and returns the code.
func (e *diffEnv) createTopic(name string, parts int32, rf int16, configs map[string]string) int16 {
	e.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 5
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp := e.rt(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		e.t.Fatalf("%s: CreateTopics answered %d topics", e.name, len(resp.Topics))
	}
	return resp.Topics[0].ErrorCode
}

// mustTopic creates a topic with 1 replica or fails.
func (e *diffEnv) mustTopic(name string, parts int32) {
	e.t.Helper()
	if c := e.createTopic(name, parts, 1, nil); c != 0 {
		e.t.Fatalf("%s: create %s: %v", e.name, name, kerr.ErrorForCode(c))
	}
}

// produceN writes n records (timestamps ts0, ts0+1000, …) to topic/p with kgo.
func (e *diffEnv) produceN(cl *kgo.Client, topicName string, p int32, n int, ts0 int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topicName, Partition: p, Value: []byte(fmt.Sprintf("v%d", i)),
			Timestamp: time.UnixMilli(ts0 + int64(i)*1000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			e.t.Fatalf("%s: produce: %v", e.name, err)
		}
	}
}

// listOffset answers one raw ListOffsets v7 query: code, offset, timestamp.
func (e *diffEnv) listOffset(topicName string, p int32, ts int64) (int16, int64, int64) {
	e.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topicName
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.rt(req).(*kmsg.ListOffsetsResponse)
	pr := resp.Topics[0].Partitions[0]
	return pr.ErrorCode, pr.Offset, pr.Timestamp
}

// fetchOne is a raw Fetch v11 of one partition at offset: code, high
// watermark, log start offset and the number of record bytes.
func (e *diffEnv) fetchOne(topicName string, p int32, offset int64) (int16, int64, int64, int) {
	e.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topicName
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := e.rt(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode, -1, -1, 0
	}
	pr := resp.Topics[0].Partitions[0]
	return pr.ErrorCode, pr.HighWatermark, pr.LogStartOffset, len(pr.RecordBatches)
}

// diffScenario is one row of the table.
type diffScenario struct {
	name string
	run  func(e *diffEnv, o obs)
	// deviations: key -> Sluice's (Kafka's) answer where kfake differs.
	deviations map[string]string
}

// startKfake starts a one-broker kfake cluster with auto-creation off.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// runDiff runs each scenario against a fresh Sluice broker and a fresh
// kfake cluster and compares the observations.
func runDiff(t *testing.T, scenarios []diffScenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			b, _ := newGroupBroker(t, func(c *Config) { c.AutoCreateTopics = false })
			envs := []*diffEnv{
				{name: "sluice", addr: b.Addr, t: t},
				{name: "kfake", addr: startKfake(t), t: t},
			}
			var got [2]obs
			for i, e := range envs {
				e.raw = dialRaw(t, e.addr)
				got[i] = obs{}
				sc.run(e, got[i])
			}
			compareObs(t, got[0], got[1], sc.deviations)
		})
	}
}

func compareObs(t *testing.T, sluice, kf obs, deviations map[string]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range sluice {
		keys[k] = true
	}
	for k := range kf {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		s, sok := sluice[k]
		f, fok := kf[k]
		if want, ok := deviations[k]; ok {
			if !sok || s != want {
				t.Errorf("%s: sluice %q, want Kafka's %q (kfake: %q)", k, s, want, f)
			} else if f != want {
				t.Logf("%s: kfake deviates: %q (Kafka and Sluice: %q)", k, f, want)
			}
			continue
		}
		if testing.Verbose() {
			t.Logf("%s: sluice %q kfake %q", k, s, f)
		}
		if sok != fok || s != f {
			t.Errorf("%s: sluice %q (present %v), kfake %q (present %v)", k, s, sok, f, fok)
		}
	}
	for k := range deviations {
		if !keys[k] {
			t.Errorf("deviation %s names no observation", k)
		}
	}
}

func TestDiffKfake(t *testing.T) {
	runDiff(t, diffScenarios)
}

var diffScenarios = []diffScenario{
	{name: "roundtrip", run: diffRoundtrip},
	{name: "list_offsets", run: diffListOffsets},
	{name: "metadata_unknown", run: diffMetadataUnknown, deviations: map[string]string{
		// Kafka's Metadata handler runs Topic.validate on names it does not
		// know and answers INVALID_TOPIC_EXCEPTION for an illegal one; kfake
		// answers UNKNOWN_TOPIC_OR_PARTITION.
		"invalid name code": "INVALID_TOPIC_EXCEPTION",
	}},
	{name: "produce_unknown", run: diffProduceUnknown, deviations: map[string]string{
		// A failed partition's BaseOffset is -1 in Kafka (ProduceResponse's
		// PartitionResponse(Errors) fills INVALID_OFFSET); kfake leaves 0.
		"pu/5 base":   "-1",
		"pu/-1 base":  "-1",
		"nope/0 base": "-1",
	}},
	{name: "fetch_out_of_range", run: diffFetchOutOfRange},
	{name: "create_topics_errors", run: diffCreateTopicsErrors, deviations: map[string]string{
		// kfake validates neither names, counts nor configs. Kafka checks
		// names with Topic.validate (legal characters [a-zA-Z0-9._-], not
		// "." or "..", at most 249 characters), refuses NumPartitions and
		// ReplicationFactor that are 0 or below -1, and validates configs
		// with LogConfig (unknown name or unparsable value: INVALID_CONFIG).
		"name with slash":  "INVALID_TOPIC_EXCEPTION",
		"name dot":         "INVALID_TOPIC_EXCEPTION",
		"name dotdot":      "INVALID_TOPIC_EXCEPTION",
		"name 250 chars":   "INVALID_TOPIC_EXCEPTION",
		"partitions -2":    "INVALID_PARTITIONS",
		"replication 0":    "INVALID_REPLICATION_FACTOR",
		"bad retention.ms": "INVALID_CONFIG",
		"unknown config":   "INVALID_CONFIG",
	}},
	{name: "delete_topics_unknown", run: diffDeleteTopicsUnknown},
	{name: "create_partitions", run: diffCreatePartitions, deviations: map[string]string{
		// Kafka refuses a count equal to the current one ("Topic already
		// has 3 partition(s).", INVALID_PARTITIONS, as in its
		// ReplicationControlManager tests); kfake answers NONE.
		"cp to 3": "INVALID_PARTITIONS",
	}},
	{name: "describe_configs_unknown", run: diffDescribeConfigsUnknown, deviations: map[string]string{
		// Kafka's DescribeConfigs handler runs Topic.validate before the
		// lookup: INVALID_TOPIC_EXCEPTION; kfake answers
		// UNKNOWN_TOPIC_OR_PARTITION.
		"invalid name code": "INVALID_TOPIC_EXCEPTION",
	}},
	{name: "group_basics", run: diffGroupBasics, deviations: map[string]string{
		// Kafka answers a partition without a committed offset with offset
		// -1 and metadata "" (OffsetFetchResponse.NO_METADATA), not null.
		"g fetch gt/0":      `code=0 offset=-1 md=""`,
		"simple fetch gt/0": `code=0 offset=-1 md=""`,
		// OffsetFetch of a group that does not exist is not an error in
		// Kafka: OffsetMetadataManager.fetchOffsets catches
		// GroupIdNotFoundException and answers every requested partition
		// with offset -1 (the classic coordinator did the same); kfake
		// answers GROUP_ID_NOT_FOUND without partitions.
		"nogroup fetch code": "NONE",
		"nogroup fetch gt/0": `code=0 offset=-1 md=""`,
		"nogroup fetch gt/1": `code=0 offset=-1 md=""`,
		// The same after DeleteGroups removed the group with its offsets.
		"deleted g fetch code": "NONE",
		"deleted g fetch gt/0": `code=0 offset=-1 md=""`,
		"deleted g fetch gt/1": `code=0 offset=-1 md=""`,
	}},
	{name: "delete_records", run: diffDeleteRecords, deviations: map[string]string{
		// An offset below the log start offset is not out of range in
		// Kafka: Partition.deleteRecordsOnLeader only refuses offsets < 0
		// (and UnifiedLog those beyond the high watermark), and
		// maybeIncrementLogStartOffset leaves a larger start offset alone,
		// answering the current low watermark. kfake answers
		// OFFSET_OUT_OF_RANGE.
		"delete to 2 code": "NONE",
		"delete to 2 low":  "3",
	}},
}

// diffRoundtrip: kgo produces records with keys, headers and timestamps to
// two partitions and a kgo consumer reads them back.
func diffRoundtrip(e *diffEnv, o obs) {
	e.mustTopic("rt", 2)
	cl := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for i := 0; i < 6; i++ {
		r := &kgo.Record{Topic: "rt", Partition: int32(i % 2), Key: []byte(fmt.Sprintf("k%d", i)),
			Value: []byte(fmt.Sprintf("value-%d", i)), Timestamp: base.Add(time.Duration(i) * time.Second),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}, {Key: "empty"}}}
		if i == 5 {
			r.Key = nil // a null key stays null
		}
		res := cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			o.set(fmt.Sprintf("produce[%d]", i), "%v", err)
			continue
		}
		pr := res[0].Record
		o.set(fmt.Sprintf("produce[%d]", i), "p%d@%d", pr.Partition, pr.Offset)
	}
	cons := e.client(kgo.ConsumeTopics("rt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < 6 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { o.set("consume_err", "%v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, fmt.Sprintf("%s=%x", h.Key, h.Value))
			}
			o.set(fmt.Sprintf("rec p%d@%d", r.Partition, r.Offset), "key=%q nil=%v value=%q ts=%d headers=%v",
				r.Key, r.Key == nil, r.Value, r.Timestamp.UnixMilli(), hs)
		})
	}
	o.set("consumed", "%d", n)
}

// diffListOffsets: earliest, latest, max timestamp and by-timestamp lookups.
func diffListOffsets(e *diffEnv, o obs) {
	e.mustTopic("lo", 1)
	for _, ts := range []int64{-2, -1, -3, 0} {
		c, off, _ := e.listOffset("lo", 0, ts)
		o.code(fmt.Sprintf("empty ts=%d code", ts), c)
		o.set(fmt.Sprintf("empty ts=%d offset", ts), "%d", off)
	}
	e.produceN(e.client(), "lo", 0, 3, 10000) // timestamps 10000, 11000, 12000
	for _, ts := range []int64{-2, -1, -3, 0, 10000, 10500, 12000, 12001} {
		c, off, gotTS := e.listOffset("lo", 0, ts)
		o.code(fmt.Sprintf("ts=%d code", ts), c)
		o.set(fmt.Sprintf("ts=%d offset", ts), "%d", off)
		if ts >= -3 && ts != -2 && ts != -1 {
			o.set(fmt.Sprintf("ts=%d timestamp", ts), "%d", gotTS)
		}
	}
	c, _, _ := e.listOffset("lo", 7, -1)
	o.code("unknown partition code", c)
	c, _, _ = e.listOffset("nope", 0, -1)
	o.code("unknown topic code", c)
}

// diffMetadataUnknown: an unknown topic with auto-creation off (broker) and
// asked for or not (request).
func diffMetadataUnknown(e *diffEnv, o obs) {
	for _, allow := range []bool{false, true} {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 9
		req.AllowAutoTopicCreation = allow
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("no-such-topic")
		req.Topics = append(req.Topics, mt)
		resp := e.rt(req).(*kmsg.MetadataResponse)
		o.set(fmt.Sprintf("allow=%v topics", allow), "%d", len(resp.Topics))
		if len(resp.Topics) == 1 {
			o.code(fmt.Sprintf("allow=%v code", allow), resp.Topics[0].ErrorCode)
			o.set(fmt.Sprintf("allow=%v partitions", allow), "%d", len(resp.Topics[0].Partitions))
		}
		o.set(fmt.Sprintf("allow=%v brokers", allow), "%d", len(resp.Brokers))
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 9
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("bad/name")
	mreq.Topics = append(mreq.Topics, mt)
	mresp := e.rt(mreq).(*kmsg.MetadataResponse)
	if len(mresp.Topics) == 1 {
		o.code("invalid name code", mresp.Topics[0].ErrorCode)
	}
	// The topic must not have been created by either request.
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	resp := e.rt(req).(*kmsg.MetadataResponse)
	o.set("all topics", "%d", len(resp.Topics))
}

// diffProduceUnknown: produce to a partition beyond the topic's count and to
// an unknown topic.
func diffProduceUnknown(e *diffEnv, o obs) {
	e.mustTopic("pu", 1)
	for _, tc := range []struct {
		topic string
		p     int32
	}{{"pu", 0}, {"pu", 5}, {"pu", -1}, {"nope", 0}} {
		batch := makeBatch(batchSpec{producerID: -1, producerEpoch: -1, baseSequence: -1, records: 2, timestamp: 5000})
		pr := produceResult(e.t, e.rt(produceReq(9, -1, tc.topic, tc.p, batch)))
		k := fmt.Sprintf("%s/%d", tc.topic, tc.p)
		o.code(k+" code", pr.ErrorCode)
		o.set(k+" base", "%d", pr.BaseOffset)
	}
	batch := makeBatch(batchSpec{producerID: -1, producerEpoch: -1, baseSequence: -1, records: 1, timestamp: 5000})
	pr := produceResult(e.t, e.rt(produceReq(9, 2, "pu", 0, batch)))
	o.code("acks=2 code", pr.ErrorCode)
	c, off, _ := e.listOffset("pu", 0, -1)
	o.code("pu end code", c)
	o.set("pu end", "%d", off)
}

// diffFetchOutOfRange: raw fetches before, at and beyond the log, then a
// kgo consumer started beyond the end, which resets per its reset offset.
func diffFetchOutOfRange(e *diffEnv, o obs) {
	e.mustTopic("fo", 1)
	cl := e.client()
	e.produceN(cl, "fo", 0, 3, 20000)
	for _, off := range []int64{0, 3, 4, 100, -1} {
		c, hw, lso, n := e.fetchOne("fo", 0, off)
		k := fmt.Sprintf("fetch@%d", off)
		o.code(k+" code", c)
		o.set(k+" hw", "%d", hw)
		o.set(k+" lso", "%d", lso)
		o.set(k+" hasRecords", "%v", n > 0)
	}
	c, _, _, _ := e.fetchOne("fo", 3, 0)
	o.code("unknown partition code", c)
	c, _, _, _ = e.fetchOne("nope", 0, 0)
	o.code("unknown topic code", c)

	// kgo starting at offset 10 of a 3-record partition gets
	// OFFSET_OUT_OF_RANGE and resets to the start (its reset offset).
	cons := e.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fo": {0: kgo.NewOffset().At(10)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var offs []int64
	for len(offs) < 3 && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { offs = append(offs, r.Offset) })
	}
	o.set("kgo reset consumed", "%v", offs)
}

// diffCreateTopicsErrors: the per-topic errors of CreateTopics.
func diffCreateTopicsErrors(e *diffEnv, o obs) {
	e.mustTopic("exists", 1)
	long := strings.Repeat("x", 250)
	cases := []struct {
		key     string
		name    string
		parts   int32
		rf      int16
		configs map[string]string
	}{
		{"exists", "exists", 1, 1, nil},
		{"name with slash", "bad/name", 1, 1, nil},
		{"name dot", ".", 1, 1, nil},
		{"name dotdot", "..", 1, 1, nil},
		{"name 250 chars", long, 1, 1, nil},
		{"name 249 chars", long[:249], 1, 1, nil},
		{"partitions 0", "p0", 0, 1, nil},
		{"partitions -2", "pm2", -2, 1, nil},
		{"replication 3", "rf3", 1, 3, nil},
		{"replication 0", "rf0", 1, 0, nil},
		{"default partitions and rf", "defaults", -1, -1, nil},
		{"bad retention.ms", "cfg1", 1, 1, map[string]string{"retention.ms": "abc"}},
		{"unknown config", "cfg2", 1, 1, map[string]string{"no.such.config": "1"}},
		{"good config", "cfg3", 1, 1, map[string]string{"retention.ms": "60000"}},
		{"collision first", "a.b", 1, 1, nil},
		{"collision second", "a_b", 1, 1, nil},
	}
	for _, c := range cases {
		o.code(c.key, e.createTopic(c.name, c.parts, c.rf, c.configs))
	}
}

// diffDeleteTopicsUnknown: deleting an unknown and a known topic.
func diffDeleteTopicsUnknown(e *diffEnv, o obs) {
	e.mustTopic("del", 1)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 5
	req.TimeoutMillis = 5000
	req.TopicNames = []string{"no-such-topic", "del"}
	resp := e.rt(req).(*kmsg.DeleteTopicsResponse)
	for _, rt := range resp.Topics {
		o.code(derefStr(rt.Topic)+" code", rt.ErrorCode)
	}
}

func derefStr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// diffCreatePartitions: increase, same count, decrease, unknown topic.
func diffCreatePartitions(e *diffEnv, o obs) {
	e.mustTopic("cp", 3)
	for _, tc := range []struct {
		topic string
		count int32
	}{{"cp", 2}, {"cp", 3}, {"cp", 5}, {"cp", 4}, {"nope", 2}} {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version = 2
		req.TimeoutMillis = 5000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = tc.topic, tc.count
		req.Topics = append(req.Topics, rt)
		resp := e.rt(req).(*kmsg.CreatePartitionsResponse)
		o.code(fmt.Sprintf("%s to %d", tc.topic, tc.count), resp.Topics[0].ErrorCode)
	}
}

// diffDescribeConfigsUnknown: DescribeConfigs of an unknown topic.
func diffDescribeConfigsUnknown(e *diffEnv, o obs) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "no-such-topic"
	req.Resources = append(req.Resources, r)
	resp := e.rt(req).(*kmsg.DescribeConfigsResponse)
	o.code("unknown topic code", resp.Resources[0].ErrorCode)
	o.set("unknown topic configs", "%d", len(resp.Resources[0].Configs))

	// Kafka validates the name first (Topic.validate in the
	// DescribeConfigs handler).
	req.Resources[0].ResourceName = "bad/name"
	resp = e.rt(req).(*kmsg.DescribeConfigsResponse)
	o.code("invalid name code", resp.Resources[0].ErrorCode)
}

// diffDeleteRecords: DeleteRecords moves the log start offset; ListOffsets
// and Fetch follow it.
func diffDeleteRecords(e *diffEnv, o obs) {
	e.mustTopic("dr", 1)
	e.produceN(e.client(), "dr", 0, 5, 30000)
	del := func(off int64) (int16, int64) {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		req.TimeoutMillis = 5000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "dr"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, off
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := e.rt(req).(*kmsg.DeleteRecordsResponse)
		pr := resp.Topics[0].Partitions[0]
		return pr.ErrorCode, pr.LowWatermark
	}
	for _, off := range []int64{3, 2, 10} {
		c, low := del(off)
		o.code(fmt.Sprintf("delete to %d code", off), c)
		if c == 0 {
			o.set(fmt.Sprintf("delete to %d low", off), "%d", low)
		}
	}
	for _, ts := range []int64{-2, -1, 30000, 33000} {
		c, off, _ := e.listOffset("dr", 0, ts)
		o.code(fmt.Sprintf("list ts=%d code", ts), c)
		o.set(fmt.Sprintf("list ts=%d offset", ts), "%d", off)
	}
	c, hw, lso, _ := e.fetchOne("dr", 0, 1)
	o.code("fetch@1 code", c)
	o.set("fetch@1 hw/lso", "%d/%d", hw, lso)
	c, hw, lso, n := e.fetchOne("dr", 0, 3)
	o.code("fetch@3 code", c)
	o.set("fetch@3 hw/lso/records", "%d/%d/%v", hw, lso, n > 0)
	c, low := del(-1) // -1: up to the high watermark
	o.code("delete to -1 code", c)
	o.set("delete to -1 low", "%d", low)
}

// diffGroupBasics: a raw member joins (MEMBER_ID_REQUIRED first), syncs,
// heartbeats, commits and fetches offsets; then the errors of a wrong
// generation and of an unknown member, and a simple commit.
func diffGroupBasics(e *diffEnv, o obs) {
	e.mustTopic("gt", 2)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 3
	fc.CoordinatorKey = "g"
	fcr := e.rt(fc).(*kmsg.FindCoordinatorResponse)
	o.code("find coordinator", fcr.ErrorCode)

	join := func(memberID string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 7
		req.Group, req.MemberID, req.ProtocolType = "g", memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 5000
		p := kmsg.NewJoinGroupRequestProtocol()
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"gt"}
		p.Name, p.Metadata = "range", meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		return e.rt(req).(*kmsg.JoinGroupResponse)
	}
	jr := join("")
	o.code("join1 code", jr.ErrorCode)
	o.set("join1 got member id", "%v", jr.MemberID != "")
	member := jr.MemberID
	jr = join(member)
	o.code("join2 code", jr.ErrorCode)
	o.set("join2 generation", "%d", jr.Generation)
	o.set("join2 leader is me", "%v", jr.LeaderID == member)
	o.set("join2 protocol", "%s/%s", derefStr(jr.ProtocolType), derefStr(jr.Protocol))
	o.set("join2 members", "%d", len(jr.Members))
	gen := jr.Generation

	asg := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = "gt", []int32{0, 1}
	asg.Topics = append(asg.Topics, at)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.Generation, sync.MemberID = "g", gen, member
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = member, asg.AppendTo(nil)
	sync.GroupAssignment = append(sync.GroupAssignment, sa)
	sr := e.rt(sync).(*kmsg.SyncGroupResponse)
	o.code("sync code", sr.ErrorCode)
	var got kmsg.ConsumerMemberAssignment
	if err := got.ReadFrom(sr.MemberAssignment); err == nil && len(got.Topics) == 1 {
		o.set("sync assignment", "%s%v", got.Topics[0].Topic, got.Topics[0].Partitions)
	} else {
		o.set("sync assignment", "undecodable: %v", err)
	}

	hb := func(gen int32, member string) int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = 4
		req.Group, req.Generation, req.MemberID = "g", gen, member
		return e.rt(req).(*kmsg.HeartbeatResponse).ErrorCode
	}
	o.code("heartbeat", hb(gen, member))
	o.code("heartbeat bad generation", hb(gen+5, member))
	o.code("heartbeat unknown member", hb(gen, "stranger"))

	commit := func(group string, gen int32, member string, off int64) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group, req.Generation, req.MemberID = group, gen, member
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "gt"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = 1, off, -1, kmsg.StringPtr("md")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return e.rt(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	o.code("commit", commit("g", gen, member, 42))
	o.code("commit bad generation", commit("g", gen+1, member, 43))
	o.code("commit unknown member", commit("g", gen, "stranger", 44))
	o.code("commit simple to active group", commit("g", -1, "", 45))
	o.code("commit simple new group", commit("simple", -1, "", 7))
	o.code("commit generation to unknown group", commit("nogroup", 3, "m", 7))

	fetch := func(label, group string) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 7
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "gt", []int32{0, 1}
		req.Topics = append(req.Topics, rt)
		resp := e.rt(req).(*kmsg.OffsetFetchResponse)
		o.code(label+" fetch code", resp.ErrorCode)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				o.set(fmt.Sprintf("%s fetch %s/%d", label, t.Topic, p.Partition), "code=%d offset=%d md=%q",
					p.ErrorCode, p.Offset, derefStr(p.Metadata))
			}
		}
	}
	fetch("g", "g")
	fetch("simple", "simple")
	fetch("nogroup", "nogroup")

	// A commit to a partition that does not exist.
	{
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group, req.Generation, req.MemberID = "g", gen, member
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "no-such-topic"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		o.code("commit unknown topic", e.rt(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode)
	}

	// SyncGroup at a wrong generation, JoinGroup with an unknown member id.
	sync.Generation = gen + 1
	o.code("sync bad generation", e.rt(sync).(*kmsg.SyncGroupResponse).ErrorCode)
	sync.Generation = gen
	o.code("join unknown member", join("stranger").ErrorCode)

	dg := func(label string, groups ...string) {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = groups
		for _, g := range e.rt(req).(*kmsg.DeleteGroupsResponse).Groups {
			o.code(label+" delete group "+g.Group, g.ErrorCode)
		}
	}
	dg("active", "g", "nogroup")

	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 4
	lv.Group = "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = member
	lv.Members = append(lv.Members, lm)
	lr := e.rt(lv).(*kmsg.LeaveGroupResponse)
	o.code("leave", lr.ErrorCode)
	o.code("heartbeat after leave", hb(gen, member))
	dg("after leave", "g", "simple")
	fetch("deleted g", "g")
}
