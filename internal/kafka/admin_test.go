package kafka

// Tests of the admin APIs CreateTopics (19), DeleteTopics (20),
// DeleteRecords (21), CreatePartitions (37) and DescribeCluster (60) —
// the config APIs (32, 33, 44) are in admin_configs_test.go — through kadm,
// as a real admin client drives them, and through raw kmsg requests at
// pinned older versions to check the version handling.

import (
	"context"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

func adminCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr fails unless err is the Kafka error want (nil for success).
func wantErr(t testing.TB, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func wantCode(t testing.TB, what string, code int16, want *kerr.Error) {
	t.Helper()
	got := kerr.ErrorForCode(code)
	if want == nil && got != nil || want != nil && got != want {
		t.Fatalf("%s: error code %d (%v), want %v", what, code, got, want)
	}
}

func findConfig(cs []kadm.Config, key string) (kadm.Config, bool) {
	for _, c := range cs {
		if c.Key == key {
			return c, true
		}
	}
	return kadm.Config{}, false
}

func describeTopic(t testing.TB, adm *kadm.Client, name string) []kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(adminCtx(t), name)
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v / %v", name, err, rc.Err)
	}
	return rc.Configs
}

func TestAdminCreateTopics(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t, func(c *Config) { c.DefaultPartitions = 3 })
	adm := b.admin(t)
	ctx := adminCtx(t)

	r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "orders")
	wantErr(t, "create orders", err, nil)
	tp := b.Topics.Get("orders")
	if tp == nil || tp.NumPartitions() != 2 || r.NumPartitions != 2 || r.ReplicationFactor != 1 || r.ID != kadm.TopicID(tp.ID()) {
		t.Fatalf("create orders: response %+v, registry %v", r, tp)
	}
	if c, ok := r.Configs["retention.ms"]; !ok || *c.Value != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("create orders: retention.ms in response %+v", c)
	}
	if len(r.Configs) != len(topic.SupportedConfigs()) {
		t.Fatalf("create orders: %d configs in response, want %d", len(r.Configs), len(topic.SupportedConfigs()))
	}
	if got := tp.Partition(0).Config().RetentionMs; got != 60000 {
		t.Fatalf("retention.ms of the live log: %d", got)
	}

	// -1 / -1: the broker defaults (num.partitions = 3 here).
	r, err = adm.CreateTopic(ctx, -1, -1, nil, "defaults")
	wantErr(t, "create defaults", err, nil)
	if r.NumPartitions != 3 || b.Topics.Get("defaults").NumPartitions() != 3 {
		t.Fatalf("broker default partitions: %+v", r)
	}

	// Validate only: the full answer, nothing created.
	vr, err := adm.ValidateCreateTopics(ctx, 5, 1, nil, "dry")
	wantErr(t, "validate dry", err, nil)
	if d := vr["dry"]; d.Err != nil || d.NumPartitions != 5 || d.ID != (kadm.TopicID{}) || b.Topics.Get("dry") != nil {
		t.Fatalf("validate only: %+v, registry %v", d, b.Topics.Get("dry"))
	}
	vr, err = adm.ValidateCreateTopics(ctx, 1, 1, nil, "orders")
	wantErr(t, "validate existing", err, nil)
	wantErr(t, "validate existing", vr["orders"].Err, kerr.TopicAlreadyExists)

	long := strings.Repeat("x", 250)
	for _, tc := range []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
		msg        string // a fragment the error message must contain
	}{
		{name: "orders", partitions: 1, rf: 1, want: kerr.TopicAlreadyExists},
		{name: "bad name", partitions: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: "..", partitions: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: long, partitions: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: "zero-parts", partitions: 0, rf: 1, want: kerr.InvalidPartitions},
		{name: "neg-parts", partitions: -5, rf: 1, want: kerr.InvalidPartitions},
		{name: "rf3", partitions: 1, rf: 3, want: kerr.InvalidReplicationFactor},
		{name: "rf0", partitions: 1, rf: 0, want: kerr.InvalidReplicationFactor},
		{name: "bad-value", partitions: 1, rf: 1, configs: map[string]*string{"retention.ms": kadm.StringPtr("soon")}, want: kerr.InvalidConfig, msg: "retention.ms"},
		{name: "compact", partitions: 1, rf: 1, configs: map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, want: kerr.InvalidConfig, msg: "cleanup.policy"},
		{name: "unknown-key", partitions: 1, rf: 1, configs: map[string]*string{"no.such.config": kadm.StringPtr("1")}, want: kerr.InvalidConfig, msg: "no.such.config"},
		{name: "null-value", partitions: 1, rf: 1, configs: map[string]*string{"retention.ms": nil}, want: kerr.InvalidConfig, msg: "retention.ms"},
	} {
		rs, err := adm.CreateTopics(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		wantErr(t, tc.name[:min(len(tc.name), 20)], err, nil)
		got := rs[tc.name]
		wantErr(t, tc.name[:min(len(tc.name), 20)], got.Err, tc.want)
		if got.ErrMessage == "" || !strings.Contains(got.ErrMessage, tc.msg) {
			t.Fatalf("%s: error message %q, want one containing %q", tc.name, got.ErrMessage, tc.msg)
		}
		if tc.name != "orders" && b.Topics.Get(tc.name) != nil {
			t.Fatalf("%s: refused topic exists", tc.name)
		}
	}

	// Names that differ only in '.' versus '_' collide, as in Kafka.
	_, err = adm.CreateTopic(ctx, 1, 1, nil, "a.b")
	wantErr(t, "create a.b", err, nil)
	_, err = adm.CreateTopic(ctx, 1, 1, nil, "a_b")
	wantErr(t, "create a_b", err, kerr.InvalidTopicException)
}

// TestAdminCreateTopicsRaw checks old versions and what kadm never sends:
// replica assignments, duplicates, RF/assignment conflicts.
func TestAdminCreateTopicsRaw(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	rc := dialRaw(t, b.Addr)

	newTopic := func(name string, parts int32, rf int16) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		return rt
	}
	assign := func(rt *kmsg.CreateTopicsRequestTopic, replicas ...[]int32) {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for p, r := range replicas {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}

	// v0: no ValidateOnly, no ErrorMessage in the response.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 0
	req.Topics = append(req.Topics, newTopic("v0", 2, 1), newTopic("v0", 1, 1), newTopic("v0 bad", 1, 1))
	manual := newTopic("manual", 0, 0)
	assign(&manual, []int32{0}, []int32{0}, []int32{0})
	req.Topics = append(req.Topics, manual)
	resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 3 {
		t.Fatalf("v0: %d topics answered, want 3 (duplicates answered once): %+v", len(resp.Topics), resp.Topics)
	}
	wantCode(t, "v0 duplicate", resp.Topics[0].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "v0 bad name", resp.Topics[1].ErrorCode, kerr.InvalidTopicException)
	wantCode(t, "v0 manual", resp.Topics[2].ErrorCode, nil)
	if resp.Topics[1].ErrorMessage != nil {
		t.Fatalf("v0 carries no ErrorMessage")
	}
	if b.Topics.Get("v0") != nil || b.Topics.Get("manual").NumPartitions() != 3 {
		t.Fatalf("v0: registry state wrong")
	}

	// v4: assignment errors and ValidateOnly.
	req = kmsg.NewPtrCreateTopicsRequest()
	req.Version = 4
	other := newTopic("other-broker", 0, 0)
	assign(&other, []int32{1})
	twice := newTopic("twice", 0, 0)
	assign(&twice, []int32{0, 0})
	empty := newTopic("empty", 0, 0)
	assign(&empty, []int32{})
	gap := newTopic("gap", 0, 0)
	assign(&gap, []int32{0}, []int32{0})
	gap.ReplicaAssignment[1].Partition = 5
	both := newTopic("both", 0, 0)
	assign(&both, []int32{0})
	both.NumPartitions = 1
	req.Topics = append(req.Topics, other, twice, empty, gap, both)
	resp = rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	for i, want := range []*kerr.Error{kerr.InvalidReplicaAssignment, kerr.InvalidReplicaAssignment, kerr.InvalidReplicaAssignment, kerr.InvalidReplicaAssignment, kerr.InvalidRequest} {
		tr := resp.Topics[i]
		wantCode(t, "v4 "+tr.Topic, tr.ErrorCode, want)
		if tr.ErrorMessage == nil || *tr.ErrorMessage == "" {
			t.Fatalf("v4 %s: no error message", tr.Topic)
		}
	}

	// v7 validate only with an assignment: partitions and configs, no ID.
	req = kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.ValidateOnly = true
	v7 := newTopic("v7", 0, 0)
	assign(&v7, []int32{0}, []int32{0})
	req.Topics = append(req.Topics, v7)
	resp = rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
	tr := resp.Topics[0]
	wantCode(t, "v7", tr.ErrorCode, nil)
	if tr.NumPartitions != 2 || tr.ReplicationFactor != 1 || tr.TopicID != [16]byte{} || len(tr.Configs) == 0 || b.Topics.Get("v7") != nil {
		t.Fatalf("v7 validate only: %+v", tr)
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	adm := b.admin(t)
	ctx := adminCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	parts := func() int32 { return b.Topics.Get("grow").NumPartitions() }

	rs, err := adm.CreatePartitions(ctx, 2, "grow", "missing")
	wantErr(t, "add 2", err, nil)
	wantErr(t, "add 2", rs["grow"].Err, nil)
	wantErr(t, "add to missing", rs["missing"].Err, kerr.UnknownTopicOrPartition)
	if parts() != 4 {
		t.Fatalf("partitions after +2: %d", parts())
	}
	td, err := adm.ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 4 {
		t.Fatalf("metadata after +2: %v %+v", err, td["grow"])
	}

	for _, set := range []int{3, 4, 0} {
		rs, err = adm.UpdatePartitions(ctx, set, "grow")
		wantErr(t, "set", err, nil)
		wantErr(t, "set "+strconv.Itoa(set), rs["grow"].Err, kerr.InvalidPartitions)
		if rs["grow"].ErrMessage == "" {
			t.Fatalf("set %d: no error message", set)
		}
	}
	rs, err = adm.ValidateCreatePartitions(ctx, 3, "grow")
	wantErr(t, "validate", err, nil)
	wantErr(t, "validate", rs["grow"].Err, nil)
	if parts() != 4 {
		t.Fatalf("validate-only added partitions: %d", parts())
	}

	// A produce to a new partition lands there.
	cl := b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 3, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if hw := b.Topics.Get("grow").Partition(3).HighWatermark(); hw != 1 {
		t.Fatalf("new partition high watermark %d", hw)
	}

	// Raw v0 with explicit assignments.
	rc := dialRaw(t, b.Addr)
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version = 0
	addTopic := func(name string, count int32, replicas ...[]int32) {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, r := range replicas {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = r
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = append(req.Topics, rt)
	}
	if _, err := b.Topics.Create("a1", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Topics.Create("a2", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Topics.Create("a3", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	addTopic("a1", 3, []int32{0}, []int32{0})
	addTopic("a2", 3, []int32{0})
	addTopic("a3", 2, []int32{1})
	resp := rc.roundTrip(req).(*kmsg.CreatePartitionsResponse)
	wantCode(t, "v0 a1", resp.Topics[0].ErrorCode, nil)
	wantCode(t, "v0 a2 (too few assignments)", resp.Topics[1].ErrorCode, kerr.InvalidReplicaAssignment)
	wantCode(t, "v0 a3 (other broker)", resp.Topics[2].ErrorCode, kerr.InvalidReplicaAssignment)
	if b.Topics.Get("a1").NumPartitions() != 3 || b.Topics.Get("a2").NumPartitions() != 1 || b.Topics.Get("a3").NumPartitions() != 1 {
		t.Fatalf("v0 assignments: partition counts wrong")
	}
	req.Topics = nil
	addTopic("a2", 2)
	addTopic("a2", 3)
	resp = rc.roundTrip(req).(*kmsg.CreatePartitionsResponse)
	for _, tr := range resp.Topics {
		wantCode(t, "v0 duplicate", tr.ErrorCode, kerr.InvalidRequest)
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	adm := b.admin(t)
	ctx := adminCtx(t)
	for _, name := range []string{"x", "y", "z", "w"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	oldID := b.Topics.Get("x").ID()

	rs, err := adm.DeleteTopics(ctx, "x", "missing")
	wantErr(t, "delete", err, nil)
	wantErr(t, "delete x", rs["x"].Err, nil)
	if rs["x"].ID != kadm.TopicID(oldID) {
		t.Fatalf("delete x: response ID %v, want %v", rs["x"].ID, oldID)
	}
	wantErr(t, "delete missing", rs["missing"].Err, kerr.UnknownTopicOrPartition)
	if b.Topics.Get("x") != nil {
		t.Fatalf("x still in the registry")
	}
	td, err := adm.ListTopics(ctx)
	if err != nil || td.Has("x") || !td.Has("y") {
		t.Fatalf("topics after delete: %v %v", err, td.Names())
	}
	// The name can be reused: a new, empty topic with a new ID.
	r, err := adm.CreateTopic(ctx, 1, 1, nil, "x")
	wantErr(t, "recreate x", err, nil)
	if r.ID == kadm.TopicID(oldID) || b.Topics.Get("x").NumPartitions() != 1 {
		t.Fatalf("recreated x: %+v", r)
	}

	// v6 by topic ID; unknown IDs; name and ID together.
	rc := dialRaw(t, b.Addr)
	yID := b.Topics.Get("y").ID()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	add := func(name *string, id [16]byte) {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = name, id
		req.Topics = append(req.Topics, rt)
	}
	add(nil, yID)
	add(nil, [16]byte{1, 2, 3})
	add(kmsg.StringPtr("z"), b.Topics.Get("z").ID())
	add(nil, [16]byte{})
	resp := rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 4 {
		t.Fatalf("v6: %d answers", len(resp.Topics))
	}
	wantCode(t, "v6 by id", resp.Topics[0].ErrorCode, nil)
	if resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "y" || resp.Topics[0].TopicID != yID {
		t.Fatalf("v6 by id: answer %+v", resp.Topics[0])
	}
	wantCode(t, "v6 unknown id", resp.Topics[1].ErrorCode, kerr.UnknownTopicID)
	if resp.Topics[1].Topic != nil {
		t.Fatalf("v6 unknown id: name %q", *resp.Topics[1].Topic)
	}
	wantCode(t, "v6 name and id", resp.Topics[2].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "v6 neither", resp.Topics[3].ErrorCode, kerr.InvalidRequest)
	if b.Topics.Get("y") != nil || b.Topics.Get("z") == nil {
		t.Fatalf("v6: registry state wrong")
	}

	// v0 by name, with a duplicate.
	req = kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 0
	req.TopicNames = []string{"z", "w", "w"}
	resp = rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
	wantCode(t, "v0 z", resp.Topics[0].ErrorCode, nil)
	wantCode(t, "v0 duplicate w", resp.Topics[1].ErrorCode, kerr.InvalidRequest)
	if b.Topics.Get("z") != nil || b.Topics.Get("w") == nil {
		t.Fatalf("v0: registry state wrong")
	}
}

func TestAdminDeleteRecords(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	adm := b.admin(t)
	ctx := adminCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(t, kgo.DefaultProduceTopic("dr"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 10; i++ { // one batch per record
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: testValue(i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		t.Helper()
		lo, err := adm.ListStartOffsets(ctx, "dr")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("dr", 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		return o.Offset
	}
	del := func(p int32, at int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "dr", Partition: p, At: at})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rs.Lookup("dr", p)
		return r
	}

	r := del(0, 4)
	wantErr(t, "delete before 4", r.Err, nil)
	if r.LowWatermark != 4 || start() != 4 {
		t.Fatalf("after delete before 4: low watermark %d, start %d", r.LowWatermark, start())
	}
	// A consumer from the start begins at 4.
	cons := b.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"dr": {0: kgo.NewOffset().AtStart()}}))
	fs := cons.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 4 {
		t.Fatalf("first record after delete: %+v", recs)
	}

	if r := del(0, 2); r.Err != nil || r.LowWatermark != 4 { // below the start: no change
		t.Fatalf("delete below start: %+v", r)
	}
	wantErr(t, "beyond high watermark", del(0, 11).Err, kerr.OffsetOutOfRange)
	wantErr(t, "negative", del(0, -5).Err, kerr.OffsetOutOfRange)
	if r := del(0, -1); r.Err != nil || r.LowWatermark != 10 || start() != 10 {
		t.Fatalf("delete to the high watermark: %+v, start %d", r, start())
	}
	if r := del(1, -1); r.Err != nil || r.LowWatermark != 0 { // empty partition
		t.Fatalf("delete on an empty partition: %+v", r)
	}

	// v0 on the wire, and an unknown topic.
	rc := dialRaw(t, b.Addr)
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version = 0
	for _, name := range []string{"dr", "missing"} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		for _, p := range []int32{0, 9} {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p, 10
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := rc.roundTrip(req).(*kmsg.DeleteRecordsResponse)
	wantCode(t, "v0 dr", resp.Topics[0].Partitions[0].ErrorCode, nil)
	if resp.Topics[0].Partitions[0].LowWatermark != 10 {
		t.Fatalf("v0 low watermark %d", resp.Topics[0].Partitions[0].LowWatermark)
	}
	wantCode(t, "v0 unknown partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	if resp.Topics[0].Partitions[1].LowWatermark != -1 {
		t.Fatalf("v0 unknown partition low watermark %d", resp.Topics[0].Partitions[1].LowWatermark)
	}
	wantCode(t, "v0 missing", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)

	// The new start survives a restart (DeleteRecordsBefore is durable).
	b.restart(t)
	if got := b.Topics.Get("dr").Partition(0).StartOffset(); got != 10 {
		t.Fatalf("start offset after restart %d", got)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	_, portStr, _ := net.SplitHostPort(b.Addr)
	port, _ := strconv.Atoi(portStr)
	rc := dialRaw(t, b.Addr)
	for v := int16(0); v <= 2; v++ {
		for _, ops := range []bool{false, true} {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.Version = v
			req.IncludeClusterAuthorizedOperations = ops
			resp := rc.roundTrip(req).(*kmsg.DescribeClusterResponse)
			wantCode(t, "describe cluster", resp.ErrorCode, nil)
			if resp.ClusterID != b.Meta.ClusterID() || resp.ClusterID == "" || resp.ControllerID != 0 ||
				len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 0 || resp.Brokers[0].Port != int32(port) || resp.Brokers[0].Host != "127.0.0.1" {
				t.Fatalf("v%d: %+v", v, resp)
			}
			if !ops && resp.ClusterAuthorizedOperations != math.MinInt32 {
				t.Fatalf("v%d: authorized operations %d without asking", v, resp.ClusterAuthorizedOperations)
			}
			// ALTER_CONFIGS (11) and DESCRIBE (8) are among what is allowed.
			if ops && resp.ClusterAuthorizedOperations&(1<<11|1<<8) != 1<<11|1<<8 {
				t.Fatalf("v%d: authorized operations %b", v, resp.ClusterAuthorizedOperations)
			}
		}
	}
	for typ, want := range map[int8]*kerr.Error{2: kerr.MismatchedEndpointType, 9: kerr.UnsupportedEndpointType} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = 1
		req.EndpointType = typ
		resp := rc.roundTrip(req).(*kmsg.DescribeClusterResponse)
		wantCode(t, "endpoint type "+strconv.Itoa(int(typ)), resp.ErrorCode, want)
	}
	// kgo negotiates the newest version.
	resp := b.request(t, kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
	wantCode(t, "kgo describe cluster", resp.ErrorCode, nil)
}

// TestAdminApiVersions checks that the admin APIs are advertised with the
// versions their files serve.
func TestAdminApiVersions(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	vs, err := b.admin(t).ApiVersions(adminCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got kadm.BrokerApiVersions
	vs.Each(func(v kadm.BrokerApiVersions) { got = v })
	for key, want := range map[int16][2]int16{19: {0, 7}, 20: {0, 6}, 21: {0, 2}, 32: {0, 4}, 33: {0, 2}, 37: {0, 3}, 44: {0, 1}, 60: {0, 2}} {
		lo, hi, ok := got.KeyVersions(key)
		if !ok || lo != want[0] || hi != want[1] {
			t.Fatalf("key %d (%s): v%d-v%d (%v), want v%d-v%d", key, kmsg.NameForKey(key), lo, hi, ok, want[0], want[1])
		}
	}
}
