package kafka

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func createTopic(t testing.TB, b *testBroker, name string, partitions int32, configs map[string]string) {
	t.Helper()
	if _, err := b.Topics.Create(name, partitions, configs, false); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

func TestApiVersions(t *testing.T) {
	b := newTestBroker(t)
	rc := dialRaw(t, b.Addr)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		got := map[int16][2]int16{}
		for _, k := range resp.ApiKeys {
			got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		for key, want := range map[int16][2]int16{0: {0, 11}, 1: {4, 12}, 2: {0, 8}, 3: {0, 12}, 18: {0, 4}, 22: {0, 4}} {
			if got[key] != want {
				t.Fatalf("v%d: key %d advertised %v, want %v", v, key, got[key], want)
			}
		}
	}
}

func TestUnsupportedVersions(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)

	// ApiVersions above the served range: UNSUPPORTED_VERSION in a v0 body
	// that still lists the versions, with a v0 response header.
	rc := dialRaw(t, b.Addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 5 // kmsg knows it, we serve up to 4
	corr := rc.send(req)
	frame, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if int32(binary.BigEndian.Uint32(frame)) != corr {
		t.Fatal("bad correlation id")
	}
	v0 := kmsg.NewPtrApiVersionsResponse()
	v0.Version = 0
	if err := v0.ReadFrom(frame[4:]); err != nil {
		t.Fatalf("decode v0 body: %v", err)
	}
	if v0.ErrorCode != kerr.UnsupportedVersion.Code || len(v0.ApiKeys) == 0 {
		t.Fatalf("got error %d with %d keys, want UNSUPPORTED_VERSION with the key list", v0.ErrorCode, len(v0.ApiKeys))
	}
	// The connection stays usable: retry at a served version.
	req.Version = 3
	if resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("retry: error %d", resp.ErrorCode)
	}

	// Other APIs: a version outside the range closes the connection, as
	// Kafka does. Produce v0-v2 are advertised (KAFKA-18659) but refused.
	for _, tc := range []struct {
		name string
		req  kmsg.Request
	}{
		{"produce v2", produceReq(2, 1, "x", 0, makeBatch(batchSpec{producerID: -1}))},
		{"fetch v3", func() kmsg.Request { r := kmsg.NewPtrFetchRequest(); r.Version = 3; return r }()},
		{"metadata v13", func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.Version = 13; return r }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, b.Addr)
			rc.send(tc.req)
			rc.expectClosed()
		})
	}

	// An unknown API key closes the connection too.
	rc = dialRaw(t, b.Addr)
	frame = binary.BigEndian.AppendUint32(nil, 10)
	frame = binary.BigEndian.AppendUint16(frame, 9999) // key
	frame = binary.BigEndian.AppendUint16(frame, 0)    // version
	frame = binary.BigEndian.AppendUint32(frame, 1)    // correlation
	frame = binary.BigEndian.AppendUint16(frame, 0xffff)
	rc.c.Write(frame)
	rc.expectClosed()
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	good := dialRaw(t, b.Addr)
	if resp := good.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatal(resp.ErrorCode)
	}
	bad := dialRaw(t, b.Addr)
	bad.c.Write(binary.BigEndian.AppendUint32(nil, 2<<20)) // announces 2 MiB, sends nothing more
	bad.expectClosed()
	neg := dialRaw(t, b.Addr)
	neg.c.Write([]byte{0xff, 0xff, 0xff, 0xf0})
	neg.expectClosed()

	// The other connection is unaffected.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	if resp := good.roundTrip(md).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("metadata after another connection's oversized frame: %+v", resp)
	}
}

func TestMetadata(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.DefaultPartitions = 3 })
	createTopic(t, b, "existing", 2, nil)
	rc := dialRaw(t, b.Addr)
	host, portStr, _ := net.SplitHostPort(b.Addr)

	for _, v := range []int16{0, 1, 4, 9, 10, 12} {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		req.AllowAutoTopicCreation = true
		for _, n := range []string{"existing", "auto-" + string(rune('a'+v)), "bad/name"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != host || resp.Brokers[0].NodeID != 0 {
			t.Fatalf("v%d brokers %+v, want %s:%s", v, resp.Brokers, host, portStr)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID != b.Meta.ClusterID()) {
			t.Fatalf("v%d cluster id %v", v, resp.ClusterID)
		}
		if len(resp.Topics) != 3 {
			t.Fatalf("v%d: %d topics", v, len(resp.Topics))
		}
		ex, auto, bad := resp.Topics[0], resp.Topics[1], resp.Topics[2]
		if ex.ErrorCode != 0 || len(ex.Partitions) != 2 || ex.Partitions[1].Leader != 0 || len(ex.Partitions[1].ISR) != 1 {
			t.Fatalf("v%d existing: %+v", v, ex)
		}
		if v >= 10 && ex.TopicID != b.Topics.Get("existing").ID() {
			t.Fatalf("v%d topic id mismatch", v)
		}
		if auto.ErrorCode != 0 || len(auto.Partitions) != 3 {
			t.Fatalf("v%d auto-created: %+v", v, auto)
		}
		if bad.ErrorCode != kerr.InvalidTopicException.Code {
			t.Fatalf("v%d bad name: error %d", v, bad.ErrorCode)
		}
	}

	// v4+ without AllowAutoTopicCreation, and auto-create disabled.
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("not-allowed")
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	if resp := rc.roundTrip(req).(*kmsg.MetadataResponse); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-create: error %d", resp.Topics[0].ErrorCode)
	}
	// All topics (null list).
	req.Topics = nil
	if resp := rc.roundTrip(req).(*kmsg.MetadataResponse); len(resp.Topics) != len(b.Topics.List()) {
		t.Fatalf("all topics: got %d, want %d", len(resp.Topics), len(b.Topics.List()))
	}
	// By topic id.
	rt = kmsg.NewMetadataRequestTopic()
	rt.TopicID = b.Topics.Get("existing").ID()
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	if resp := rc.roundTrip(req).(*kmsg.MetadataResponse); resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "existing" {
		t.Fatalf("by id: %+v", resp.Topics[0])
	}
}

func TestProduceErrors(t *testing.T) {
	b := newTestBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	createTopic(t, b, "t", 1, map[string]string{"max.message.bytes": "2000"})
	rc := dialRaw(t, b.Addr)
	good := makeBatch(batchSpec{producerID: -1, records: 3})

	check := func(name string, req *kmsg.ProduceRequest, want int16) {
		t.Helper()
		if got := produceResult(t, rc.roundTrip(req)).ErrorCode; got != want {
			t.Fatalf("%s: error %d (%v), want %d (%v)", name, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
		}
	}
	check("good", produceReq(9, -1, "t", 0, good), 0)
	check("missing topic", produceReq(9, -1, "nope", 0, makeBatch(batchSpec{producerID: -1})), kerr.UnknownTopicOrPartition.Code)
	check("missing partition", produceReq(9, -1, "t", 7, makeBatch(batchSpec{producerID: -1})), kerr.UnknownTopicOrPartition.Code)
	check("too large", produceReq(9, -1, "t", 0, makeBatch(batchSpec{producerID: -1, valueSize: 5000})), kerr.MessageTooLarge.Code)

	corrupt := makeBatch(batchSpec{producerID: -1, records: 2})
	corrupt[len(corrupt)-1] ^= 0xff // breaks the CRC
	check("bad crc", produceReq(9, -1, "t", 0, corrupt), kerr.CorruptMessage.Code)

	two := append(makeBatch(batchSpec{producerID: -1}), makeBatch(batchSpec{producerID: -1})...)
	check("two batches v9", produceReq(9, -1, "t", 0, two), kerr.InvalidRecord.Code)
	check("no batch v7", produceReq(7, -1, "t", 0, makeBatch(batchSpec{producerID: -1})[:0]), kerr.CorruptMessage.Code)
	check("magic 1", produceReq(9, -1, "t", 0, makeBatch(batchSpec{producerID: -1, magic: 1})), kerr.InvalidRecord.Code)
	check("truncated", produceReq(9, -1, "t", 0, good[:40]), kerr.CorruptMessage.Code)
	check("transactional batch", produceReq(9, -1, "t", 0, makeBatch(batchSpec{producerID: 5, attributes: attrTransactional})), kerr.InvalidRecord.Code)

	txn := produceReq(9, -1, "t", 0, makeBatch(batchSpec{producerID: -1}))
	txn.TransactionID = kmsg.StringPtr("tx")
	check("transactional id", txn, kerr.TransactionalIDAuthorizationFailed.Code)
	check("bad acks", produceReq(9, 2, "t", 0, makeBatch(batchSpec{producerID: -1})), kerr.InvalidRequiredAcks.Code)

	// Nothing but the first good batch was stored.
	if hw := b.Topics.Get("t").Partition(0).HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after errors, want 3", hw)
	}
}

func TestAcksZeroKeepsOrder(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "z", 1, nil)
	rc := dialRaw(t, b.Addr)
	// acks=0 produces get no response; a request pipelined after them is
	// answered with its own correlation id.
	for i := 0; i < 5; i++ {
		rc.send(produceReq(9, 0, "z", 0, makeBatch(batchSpec{producerID: -1, records: 2})))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	corr := rc.send(md)
	rc.recv(md, corr)
	deadline := time.Now().Add(5 * time.Second)
	for b.Topics.Get("z").Partition(0).HighWatermark() != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("acks=0 records not stored: hw %d", b.Topics.Get("z").Partition(0).HighWatermark())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// An acks=0 produce that fails closes the connection.
	rc.send(produceReq(9, 0, "z", 3, makeBatch(batchSpec{producerID: -1})))
	rc.expectClosed()
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "p", 2, nil)
	rc := dialRaw(t, b.Addr)
	var reqs []kmsg.Request
	var corrs []int32
	for i := 0; i < 40; i++ {
		var req kmsg.Request
		switch i % 3 {
		case 0:
			req = produceReq(9, -1, "p", int32(i%2), makeBatch(batchSpec{producerID: -1, records: 4}))
		case 1:
			r := kmsg.NewPtrMetadataRequest()
			r.Version = 12
			req = r
		default:
			r := kmsg.NewPtrApiVersionsRequest()
			r.Version = 3
			req = r
		}
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	for i, req := range reqs {
		resp := rc.recv(req, corrs[i])
		if pr, ok := resp.(*kmsg.ProduceResponse); ok && pr.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce %d: error %d", i, pr.Topics[0].Partitions[0].ErrorCode)
		}
	}
}

func TestIdempotentSequences(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "idem", 1, nil)
	rc := dialRaw(t, b.Addr)
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	ir := rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 || ir.ProducerID < 0 || ir.ProducerEpoch != 0 {
		t.Fatalf("init producer id: %+v", ir)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch
	send := func(seq int32, n int, ep int16) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		return produceResult(t, rc.roundTrip(produceReq(9, -1, "idem", 0, makeBatch(batchSpec{producerID: pid, producerEpoch: ep, baseSequence: seq, records: n}))))
	}
	log := b.Topics.Get("idem").Partition(0)

	if r := send(0, 5, epoch); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first batch: %+v", r)
	}
	if r := send(5, 5, epoch); r.ErrorCode != 0 || r.BaseOffset != 5 {
		t.Fatalf("second batch: %+v", r)
	}
	// A retry of either is answered with its original offset, not stored again.
	if r := send(0, 5, epoch); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("duplicate of first: %+v", r)
	}
	if r := send(5, 5, epoch); r.ErrorCode != 0 || r.BaseOffset != 5 {
		t.Fatalf("duplicate of second: %+v", r)
	}
	if hw := log.HighWatermark(); hw != 10 {
		t.Fatalf("duplicates were written: hw %d", hw)
	}
	if r := send(12, 1, epoch); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: %+v", r)
	}
	// Epoch bump through InitProducerId v3+ (KIP-360).
	init.ProducerID, init.ProducerEpoch = pid, epoch
	ir = rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 || ir.ProducerID != pid || ir.ProducerEpoch != epoch+1 {
		t.Fatalf("epoch bump: %+v", ir)
	}
	if r := send(3, 1, epoch+1); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("new epoch not starting at 0: %+v", r)
	}
	if r := send(0, 2, epoch+1); r.ErrorCode != 0 || r.BaseOffset != 10 {
		t.Fatalf("new epoch: %+v", r)
	}
	if r := send(2, 1, epoch); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	// A stale epoch is refused by InitProducerId too.
	ir = rc.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("init with stale epoch: %+v", ir)
	}
	// A producer this partition has never seen may start anywhere (KIP-360).
	init2 := kmsg.NewPtrInitProducerIDRequest()
	init2.Version = 4
	pid2 := rc.roundTrip(init2).(*kmsg.InitProducerIDResponse).ProducerID
	r := produceResult(t, rc.roundTrip(produceReq(9, -1, "idem", 0, makeBatch(batchSpec{producerID: pid2, baseSequence: 77, records: 1}))))
	if r.ErrorCode != 0 {
		t.Fatalf("unknown producer at seq 77: %+v", r)
	}
	// Transactional ids are refused.
	tx := kmsg.NewPtrInitProducerIDRequest()
	tx.Version = 4
	tx.TransactionalID = kmsg.StringPtr("tx")
	if ir := rc.roundTrip(tx).(*kmsg.InitProducerIDResponse); ir.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional init: %+v", ir)
	}

	// After a restart the duplicate is still recognised (state rebuilt
	// from the log tail).
	b.restart(t)
	rc = dialRaw(t, b.Addr)
	log = b.Topics.Get("idem").Partition(0)
	hw := log.HighWatermark()
	if r := send(0, 2, epoch+1); r.ErrorCode != 0 || r.BaseOffset != 10 {
		t.Fatalf("duplicate after restart: %+v", r)
	}
	if r := send(2, 3, epoch+1); r.ErrorCode != 0 || r.BaseOffset != hw {
		t.Fatalf("next batch after restart: %+v", r)
	}
	if r := send(9, 1, epoch+1); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after restart: %+v", r)
	}
}

func TestFetchErrorsAndSessions(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "f", 1, nil)
	rc := dialRaw(t, b.Addr)
	produceResult(t, rc.roundTrip(produceReq(9, -1, "f", 0, makeBatch(batchSpec{producerID: -1, records: 10}))))

	fetch := func(v int16, offset int64, sessionID, epoch int32, topicName string) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = v
		req.MaxBytes = 1 << 20
		req.SessionID, req.SessionEpoch = sessionID, epoch
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topicName
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		return rc.roundTrip(req).(*kmsg.FetchResponse)
	}
	for _, v := range []int16{4, 7, 11, 12} {
		r := fetch(v, 3, 0, -1, "f")
		p := r.Topics[0].Partitions[0]
		if r.ErrorCode != 0 || p.ErrorCode != 0 || p.HighWatermark != 10 || len(p.RecordBatches) == 0 || r.SessionID != 0 {
			t.Fatalf("v%d fetch: %+v", v, r)
		}
		if v >= 5 && p.LogStartOffset != 0 {
			t.Fatalf("v%d log start %d", v, p.LogStartOffset)
		}
	}
	if p := fetch(12, 11, 0, -1, "f").Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 10 {
		t.Fatalf("beyond end: %+v", p)
	}
	// No records is an empty record set, not null (librdkafka refuses null).
	if p := fetch(12, 10, 0, -1, "f").Topics[0].Partitions[0]; p.ErrorCode != 0 || p.RecordBatches == nil || len(p.RecordBatches) != 0 {
		t.Fatalf("at end: %+v", p)
	}
	if p := fetch(12, 0, 0, -1, "nope").Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", p)
	}
	if r := fetch(12, 0, 0, 0, "f"); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("new session request must be declined with id 0: %+v", r)
	}
	if r := fetch(12, 0, 1234, 1, "f"); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("incremental fetch: %+v", r)
	}
	if r := fetch(12, 0, 0, 3, "f"); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("bad epoch: %+v", r)
	}
}

func TestFetchLongPoll(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	createTopic(t, b, "lp", 2, nil)
	rc := dialRaw(t, b.Addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 5000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "lp"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	start := time.Now()
	corr := rc.send(req)

	// Another connection is served while the long poll waits.
	other := dialRaw(t, b.Addr)
	time.Sleep(100 * time.Millisecond)
	if r := produceResult(t, other.roundTrip(produceReq(9, -1, "lp", 1, makeBatch(batchSpec{producerID: -1, records: 2})))); r.ErrorCode != 0 {
		t.Fatalf("produce during long poll: %+v", r)
	}
	resp := rc.recv(req, corr).(*kmsg.FetchResponse)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("long poll woke after %v, want soon after the produce", d)
	}
	if p := resp.Topics[0].Partitions[1]; len(p.RecordBatches) == 0 || p.HighWatermark != 2 {
		t.Fatalf("long poll response: %+v", p)
	}

	// With no data it waits MaxWaitMillis, then answers empty.
	req.MaxWaitMillis = 300
	req.Topics[0].Partitions[1].FetchOffset = 2
	start = time.Now()
	resp = rc.roundTrip(req).(*kmsg.FetchResponse)
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("empty long poll took %v, want ~300ms", d)
	}
	if len(resp.Topics[0].Partitions[1].RecordBatches) != 0 {
		t.Fatal("records in an empty long poll")
	}
}

func TestFetchSizeLimits(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "sz", 2, nil)
	rc := dialRaw(t, b.Addr)
	big := makeBatch(batchSpec{producerID: -1, records: 4, valueSize: 2000}) // ~8 KiB
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 3; i++ {
			produceResult(t, rc.roundTrip(produceReq(9, -1, "sz", p, append([]byte(nil), big...))))
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxBytes = 100 // smaller than one batch
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "sz"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 100
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if len(p0.RecordBatches) != len(big) {
		t.Fatalf("first partition got %d bytes, want exactly one batch (%d) (KIP-74)", len(p0.RecordBatches), len(big))
	}
	if len(p1.RecordBatches) != 0 || p1.HighWatermark != 12 {
		t.Fatalf("second partition got %d bytes over the limit", len(p1.RecordBatches))
	}
	// Partition limit below the response limit: 2 batches fit in 20000.
	req.MaxBytes = 1 << 20
	for i := range req.Topics[0].Partitions {
		req.Topics[0].Partitions[i].PartitionMaxBytes = int32(2*len(big) + 10)
	}
	resp = rc.roundTrip(req).(*kmsg.FetchResponse)
	for _, p := range resp.Topics[0].Partitions {
		if len(p.RecordBatches) != 2*len(big) {
			t.Fatalf("partition %d got %d bytes, want 2 batches", p.Partition, len(p.RecordBatches))
		}
	}
}

func TestListOffsets(t *testing.T) {
	b := newTestBroker(t)
	createTopic(t, b, "lo", 1, nil)
	rc := dialRaw(t, b.Addr)
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i := 0; i < 5; i++ { // batches of 2 at base, base+1000, …
		produceResult(t, rc.roundTrip(produceReq(9, -1, "lo", 0, makeBatch(batchSpec{producerID: -1, records: 2, timestamp: base + int64(i)*1000}))))
	}
	list := func(v int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = v
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rp.MaxNumOffsets = 1
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		return rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for _, v := range []int16{1, 4, 6, 8} {
		if p := list(v, -2); p.ErrorCode != 0 || p.Offset != 0 {
			t.Fatalf("v%d earliest: %+v", v, p)
		}
		if p := list(v, -1); p.Offset != 10 {
			t.Fatalf("v%d latest: %+v", v, p)
		}
		if p := list(v, base+2000); p.Offset != 4 || p.Timestamp != base+2000 {
			t.Fatalf("v%d by timestamp: %+v", v, p)
		}
		if p := list(v, base+10_000); p.Offset != -1 || p.Timestamp != -1 {
			t.Fatalf("v%d timestamp after all: %+v", v, p)
		}
	}
	// Offset of the record with the max timestamp (or its batch's base).
	if p := list(8, -3); (p.Offset != 9 && p.Offset != 8) || p.Timestamp != base+4001 {
		t.Fatalf("max timestamp: %+v", p)
	}
	if p := list(0, -1); len(p.OldStyleOffsets) != 1 || p.OldStyleOffsets[0] != 10 {
		t.Fatalf("v0 latest: %+v", p)
	}
}

// A response that is ready is sent at once, not held in the write buffer
// behind a pipelined long poll.
func TestResponseNotHeldBehindLongPoll(t *testing.T) {
	t.Parallel()
	b := newTestBroker(t)
	createTopic(t, b, "hold", 1, nil)
	rc := dialRaw(t, b.Addr)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	fr := kmsg.NewPtrFetchRequest()
	fr.Version = 12
	fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = 1000, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "hold"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	fr.Topics = []kmsg.FetchRequestTopic{rt}
	start := time.Now()
	c1 := rc.send(md)
	c2 := rc.send(fr)
	rc.recv(md, c1)
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("metadata response took %v behind a pipelined long poll", d)
	}
	rc.recv(fr, c2)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("long poll answered after %v, want ~1s", d)
	}
}
