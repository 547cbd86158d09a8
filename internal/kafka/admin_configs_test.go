package kafka

// Tests of the config APIs: DescribeConfigs (32), AlterConfigs (33) and
// IncrementalAlterConfigs (44). Helpers are in admin_test.go.

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/topic"
)

func TestAdminDescribeConfigs(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t, func(c *Config) { c.DefaultPartitions = 3 })
	adm := b.admin(t)
	ctx := adminCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "cfg"); err != nil {
		t.Fatal(err)
	}

	cs := describeTopic(t, adm, "cfg")
	if len(cs) != len(topic.SupportedConfigs()) {
		t.Fatalf("%d topic configs described, want every supported one (%d)", len(cs), len(topic.SupportedConfigs()))
	}
	rm, _ := findConfig(cs, "retention.ms")
	if rm.Value == nil || *rm.Value != "3600000" || rm.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v", rm)
	}
	// Synonyms, most specific first: the override, then the built-in
	// default of the broker setting behind it.
	if len(rm.Synonyms) != 2 || rm.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
		rm.Synonyms[1].Key != "log.retention.ms" || *rm.Synonyms[1].Value != strconv.Itoa(logstore.DefaultRetentionMs) ||
		rm.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms synonyms: %+v", rm.Synonyms)
	}
	sb, _ := findConfig(cs, "segment.bytes")
	if sb.Value == nil || *sb.Value != strconv.Itoa(logstore.DefaultSegmentBytes) || sb.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes: %+v", sb)
	}

	// Unknown and invalid topics.
	rcs, err := adm.DescribeTopicConfigs(ctx, "missing", "bad name")
	wantErr(t, "describe missing", err, nil)
	for _, r := range rcs {
		want := kerr.UnknownTopicOrPartition
		if r.Name == "bad name" {
			want = kerr.InvalidTopicException
		}
		wantErr(t, "describe "+r.Name, r.Err, want)
	}

	// The broker: its effective settings, read from the running config.
	brs, err := adm.DescribeBrokerConfigs(ctx, 0)
	wantErr(t, "describe broker", err, nil)
	br, err := brs.On("0", nil)
	if err != nil || br.Err != nil {
		t.Fatalf("broker 0: %v %v", err, br.Err)
	}
	np, ok := findConfig(br.Configs, "num.partitions")
	if !ok || *np.Value != "3" || np.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("num.partitions: %+v", np)
	}
	if len(np.Synonyms) != 2 || *np.Synonyms[1].Value != "1" || np.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("num.partitions synonyms: %+v", np.Synonyms)
	}
	// Every topic config's broker setting shows the value a topic without
	// overrides gets: the table here and the topic registry agree.
	plain, err := b.Topics.Create("plain", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range plain.Configs() {
		s := findLogSetting(e.Key)
		if s == nil {
			t.Fatalf("topic config %q has no broker setting in logSettings", e.Key)
		}
		bc, ok := findConfig(br.Configs, s.brokerKey)
		if !ok || bc.Value == nil || *bc.Value != e.Value {
			t.Fatalf("broker %s = %v, topic %s = %q", s.brokerKey, bc.Value, e.Key, e.Value)
		}
	}

	// The cluster-wide dynamic defaults ("") are empty; other brokers are
	// refused.
	brs, err = adm.DescribeBrokerConfigs(ctx)
	wantErr(t, "describe cluster default", err, nil)
	if len(brs) != 1 || brs[0].Err != nil || len(brs[0].Configs) != 0 {
		t.Fatalf("cluster-wide broker configs: %+v", brs)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{kmsg.ConfigResourceTypeBroker, "7"}, {kmsg.ConfigResourceTypeBroker, "x"}, {kmsg.ConfigResourceTypeBrokerLogger, "0"}, {kmsg.ConfigResourceTypeGroupConfig, "g"}} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = r.typ, r.name
		req.Resources = append(req.Resources, rr)
	}
	// kgo would route broker "7" to a broker 7; send it here on the wire.
	dresp := dialRaw(t, b.Addr).roundTrip(req).(*kmsg.DescribeConfigsResponse)
	for _, r := range dresp.Resources {
		wantCode(t, "describe "+r.ResourceType.String()+" "+r.ResourceName, r.ErrorCode, kerr.InvalidRequest)
	}
}

// TestAdminDescribeConfigsVersions checks v0 (IsDefault, no synonyms) and
// v3 (documentation, config types, name filter) on the raw protocol.
func TestAdminDescribeConfigsVersions(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	if _, err := b.Topics.Create("t", 1, map[string]string{"segment.ms": "60000"}, false); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, b.Addr)

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 0
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
	req.Resources = append(req.Resources, rr)
	resp := rc.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	res := resp.Resources[0]
	wantCode(t, "v0", res.ErrorCode, nil)
	for _, c := range res.Configs {
		if c.IsDefault != (c.Name != "segment.ms") {
			t.Fatalf("v0 %s: IsDefault %v", c.Name, c.IsDefault)
		}
		if c.Source != -1 || len(c.ConfigSynonyms) != 0 || c.Documentation != nil {
			t.Fatalf("v0 %s carries v1+ fields: %+v", c.Name, c)
		}
	}

	req = kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 3
	req.IncludeDocumentation = true
	rr.ConfigNames = []string{"segment.ms", "cleanup.policy", "no.such.key"}
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
	rb := kmsg.NewDescribeConfigsRequestResource()
	rb.ResourceType, rb.ResourceName, rb.ConfigNames = kmsg.ConfigResourceTypeBroker, "0", []string{"message.max.bytes"}
	req.Resources = append(req.Resources, rb)
	resp = rc.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 2 || len(resp.Resources[0].Configs) != 2 || len(resp.Resources[1].Configs) != 1 {
		t.Fatalf("v3 name filter: %+v", resp.Resources)
	}
	for _, c := range append(resp.Resources[0].Configs, resp.Resources[1].Configs...) {
		if c.Documentation == nil || *c.Documentation == "" || c.ConfigType == kmsg.ConfigTypeUnknown || c.Source == -1 {
			t.Fatalf("v3 %s: %+v", c.Name, c)
		}
	}
	if c := resp.Resources[0].Configs; c[0].Name != "cleanup.policy" || c[0].ConfigType != kmsg.ConfigTypeList ||
		c[1].Name != "segment.ms" || *c[1].Value != "60000" || c[1].ConfigType != kmsg.ConfigTypeLong {
		t.Fatalf("v3 configs: %+v", c)
	}
	if c := resp.Resources[1].Configs[0]; !c.ReadOnly || *c.Value != strconv.Itoa(logstore.DefaultMaxBatchBytes) {
		t.Fatalf("v3 broker message.max.bytes: %+v", c)
	}
}

// TestAdminSynonymsFromBrokerSettings checks the synonym chain when the
// broker sets a log.* default (topic.Defaults.Log).
func TestAdminSynonymsFromBrokerSettings(t *testing.T) {
	defaults := logstore.Config{RetentionMs: 1000}
	syn := topicSynonyms(topic.ConfigEntry{Key: "retention.ms", Value: "5", Source: topic.SourceTopic}, defaults)
	want := []struct {
		name, value string
		src         kmsg.ConfigSource
	}{
		{"retention.ms", "5", kmsg.ConfigSourceDynamicTopicConfig},
		{"log.retention.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig},
		{"log.retention.ms", strconv.Itoa(logstore.DefaultRetentionMs), kmsg.ConfigSourceDefaultConfig},
	}
	if len(syn) != len(want) {
		t.Fatalf("synonyms %+v", syn)
	}
	for i, w := range want {
		if syn[i].Name != w.name || *syn[i].Value != w.value || syn[i].Source != w.src {
			t.Fatalf("synonym %d: %s=%s (%v), want %+v", i, syn[i].Name, *syn[i].Value, syn[i].Source, w)
		}
	}
}

func TestAdminAlterConfigs(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	adm := b.admin(t)
	ctx := adminCtx(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.ms": kadm.StringPtr("600000")}, "alt"); err != nil {
		t.Fatal(err)
	}
	value := func(key string) (string, kmsg.ConfigSource) {
		c, ok := findConfig(describeTopic(t, adm, "alt"), key)
		if !ok || c.Value == nil {
			t.Fatalf("%s not described", key)
		}
		return *c.Value, c.Source
	}
	alter := func(validate bool, ops ...kadm.AlterConfig) kadm.AlterConfigsResponse {
		t.Helper()
		f := adm.AlterTopicConfigs
		if validate {
			f = adm.ValidateAlterTopicConfigs
		}
		rs, err := f(ctx, ops, "alt")
		if err != nil || len(rs) != 1 {
			t.Fatalf("alter: %v %+v", err, rs)
		}
		return rs[0]
	}

	// Incremental SET: applied, described, and live in every partition log.
	r := alter(false, kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("120000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "sluice.flush.policy", Value: kadm.StringPtr("interval")})
	wantErr(t, "set", r.Err, nil)
	if v, src := value("retention.ms"); v != "120000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms after set: %s %v", v, src)
	}
	for p := int32(0); p < 2; p++ {
		if c := b.Topics.Get("alt").Partition(p).Config(); c.RetentionMs != 120000 || c.Flush != logstore.FlushInterval {
			t.Fatalf("partition %d log config: retention %d flush %s", p, c.RetentionMs, c.Flush)
		}
	}
	if v, _ := value("segment.ms"); v != "600000" {
		t.Fatalf("incremental set touched segment.ms: %s", v)
	}

	// DELETE returns the key to its default; APPEND works on lists only.
	r = alter(false, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
		kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")})
	wantErr(t, "delete+append", r.Err, nil)
	if v, src := value("retention.ms"); v != strconv.Itoa(logstore.DefaultRetentionMs) || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.ms after delete: %s %v", v, src)
	}

	// Refusals name the key; nothing changes.
	for _, tc := range []struct {
		op   kadm.AlterConfig
		want *kerr.Error
		msg  string
	}{
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}, kerr.InvalidConfig, "cleanup.policy"},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("-7")}, kerr.InvalidConfig, "retention.ms"},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "log.retention.ms"},
		{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "segment.bytes", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "segment.bytes"},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.bytes"}, kerr.InvalidRequest, "segment.bytes"},
	} {
		r := alter(false, tc.op)
		wantErr(t, tc.op.Name, r.Err, tc.want)
		if !strings.Contains(r.ErrMessage, tc.msg) {
			t.Fatalf("%s: message %q does not name the key", tc.op.Name, r.ErrMessage)
		}
	}
	if v, _ := value("segment.bytes"); v != strconv.Itoa(logstore.DefaultSegmentBytes) {
		t.Fatalf("refused alter changed segment.bytes: %s", v)
	}

	// Validate only changes nothing.
	r = alter(true, kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("5000")})
	wantErr(t, "validate", r.Err, nil)
	if v, _ := value("segment.ms"); v != "600000" {
		t.Fatalf("validate-only alter changed segment.ms: %s", v)
	}

	// Legacy AlterConfigs replaces the whole set: segment.ms returns to
	// its default, sluice.flush.policy too.
	rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("1048576")}}, "alt")
	if err != nil || len(rs) != 1 {
		t.Fatal(err, rs)
	}
	wantErr(t, "legacy", rs[0].Err, nil)
	if v, src := value("retention.bytes"); v != "1048576" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.bytes after legacy alter: %s %v", v, src)
	}
	if v, src := value("segment.ms"); v != strconv.Itoa(logstore.DefaultSegmentMs) || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("legacy alter kept segment.ms: %s %v", v, src)
	}
	if ov := b.Topics.Get("alt").Overrides(); len(ov) != 1 {
		t.Fatalf("overrides after legacy alter: %v", ov)
	}

	// Unknown topics and broker configs are refused.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("1")}}, "missing")
	wantErr(t, "alter missing", err, nil)
	wantErr(t, "alter missing", rs[0].Err, kerr.UnknownTopicOrPartition)
	rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("4")}}, 0)
	wantErr(t, "alter broker", err, nil)
	wantErr(t, "alter broker", rs[0].Err, kerr.InvalidRequest)
	if !strings.Contains(rs[0].ErrMessage, "num.partitions") {
		t.Fatalf("alter broker message: %q", rs[0].ErrMessage)
	}
	rs, err = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("4")}}, 0)
	wantErr(t, "legacy alter broker", err, nil)
	wantErr(t, "legacy alter broker", rs[0].Err, kerr.InvalidRequest)
}

// TestAdminAlterConfigsRaw checks AlterConfigs v0 and IncrementalAlterConfigs
// v0 on the wire, and duplicate handling.
func TestAdminAlterConfigsRaw(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	for _, name := range []string{"raw", "other"} {
		if _, err := b.Topics.Create(name, 1, map[string]string{"segment.ms": "60000"}, false); err != nil {
			t.Fatal(err)
		}
	}
	rc := dialRaw(t, b.Addr)

	legacy := func(validate bool, name string, kv ...*string) *kmsg.AlterConfigsResponse {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Version = 0
		req.ValidateOnly = validate
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = *kv[i], kv[i+1]
			rr.Configs = append(rr.Configs, c)
		}
		req.Resources = append(req.Resources, rr)
		return rc.roundTrip(req).(*kmsg.AlterConfigsResponse)
	}
	s := kmsg.StringPtr
	resp := legacy(false, "raw", s("retention.ms"), s("1000"))
	wantCode(t, "legacy v0", resp.Resources[0].ErrorCode, nil)
	if ov := b.Topics.Get("raw").Overrides(); len(ov) != 1 || ov["retention.ms"] != "1000" {
		t.Fatalf("legacy v0 overrides %v", ov)
	}
	resp = legacy(false, "raw", s("retention.ms"), nil)
	wantCode(t, "legacy null", resp.Resources[0].ErrorCode, kerr.InvalidRequest)
	resp = legacy(false, "raw", s("retention.ms"), s("1"), s("retention.ms"), s("2"))
	wantCode(t, "legacy dup key", resp.Resources[0].ErrorCode, kerr.InvalidRequest)
	resp = legacy(true, "raw")
	wantCode(t, "legacy validate reset", resp.Resources[0].ErrorCode, nil)
	if len(b.Topics.Get("raw").Overrides()) != 1 {
		t.Fatalf("validate-only legacy alter reset the overrides")
	}
	resp = legacy(false, "bad name", s("retention.ms"), s("1"))
	wantCode(t, "legacy bad name", resp.Resources[0].ErrorCode, kerr.InvalidTopicException)

	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 0
	for i := 0; i < 2; i++ { // the same resource twice
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "raw"
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, s("5")
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
	}
	rl := kmsg.NewIncrementalAlterConfigsRequestResource()
	rl.ResourceType, rl.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "0"
	req.Resources = append(req.Resources, rl)
	bad := kmsg.NewIncrementalAlterConfigsRequestResource() // an operation that does not exist
	bad.ResourceType, bad.ResourceName = kmsg.ConfigResourceTypeTopic, "other"
	bc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	bc.Name, bc.Op, bc.Value = "retention.ms", 9, s("5")
	bad.Configs = append(bad.Configs, bc)
	req.Resources = append(req.Resources, bad)
	iresp := rc.roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse)
	for _, r := range iresp.Resources {
		wantCode(t, "incremental v0 "+r.ResourceName, r.ErrorCode, kerr.InvalidRequest)
	}
	if ov := b.Topics.Get("raw").Overrides(); ov["retention.ms"] != "1000" {
		t.Fatalf("refused incremental alter changed retention.ms: %v", ov)
	}

	req.Resources = req.Resources[:1]
	iresp = rc.roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse)
	wantCode(t, "incremental v0", iresp.Resources[0].ErrorCode, nil)
	if ov := b.Topics.Get("raw").Overrides(); ov["retention.ms"] != "5" {
		t.Fatalf("incremental v0 overrides %v", ov)
	}
}
