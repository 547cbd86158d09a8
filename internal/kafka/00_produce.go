package kafka

// Produce (key 0), versions 3-11 served on the wire; 0-11 advertised.
//
// Advertising from v0 follows Kafka 4.0 (KAFKA-18659): librdkafka only
// enables gzip/snappy/lz4 when the broker's Produce range includes v0-v2,
// so Kafka advertises them but refuses them on the wire (an "API version
// not enabled" InvalidRequestException, which closes the connection);
// clients pick the highest common version, so none sends them. v0-v2 carry
// the pre-0.11 message formats, which this broker does not store.
//
// Per partition, the records must be exactly one record batch of magic 2
// (Kafka's rule for v3+): anything else is INVALID_RECORD (CORRUPT_MESSAGE
// for versions below 8, which predate that code). The batch is validated
// by logstore (lengths, CRC-32C, records walk when uncompressed:
// CORRUPT_MESSAGE), limited by the topic's max.message.bytes
// (MESSAGE_TOO_LARGE), and stored exactly as sent: compression is passed
// through, only the base offset and the partition leader epoch (0, not
// covered by the CRC) are rewritten.
//
// acks: 0 sends no response (when a partition fails, the connection is
// closed instead, as Kafka does, so the producer notices); 1 and -1 both
// answer after logstore.Append has returned, i.e. after the fsync that
// covers the batch under the topic's flush policy "always" (the default).
// With another flush policy acks=all means "in the page cache".
//
// Idempotence: batches with a producer id are checked inside the append
// (idempotence.go). A retried duplicate is answered NONE with its original
// base offset without being written twice, once its data is durable.
//
// Missing topics are auto-created when Config.AutoCreateTopics is on
// (Kafka only auto-creates from Metadata; producers ask Metadata first, so
// this only helps raw clients); otherwise UNKNOWN_TOPIC_OR_PARTITION.
//
// Pipelining: the next request on the connection may start once every
// batch of this one has been ordered in its log (passed the append check),
// while this one waits for its fsync, so pipelined produce requests share
// fsyncs and keep their order.
//
// Skipped: transactions (a TransactionalID or a transactional/control
// batch is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED /
// INVALID_RECORD), message.timestamp.type=LogAppendTime (LogAppendTime is
// always -1), per-record errors (ErrorRecords), the v10+ leader hints,
// throttling, v12+ (transactions v2, topic ids).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
)

const produceKey = 0

func init() {
	register(apiHandler{Key: produceKey, MinVersion: 0, WireMinVersion: 3, MaxVersion: 11, Handle: handleProduce})
}

// batch header offsets (record batch v2).
const (
	batchLengthOffset      = 8
	batchLeaderEpochOffset = 12
	batchMagicOffset       = 16
	batchAttributesOffset  = 21
	batchHeaderSize        = 61
	attrTransactional      = 0x10
	attrControl            = 0x20
)

// produceWork is one partition's append within a request.
type produceWork struct {
	resp    *kmsg.ProduceResponseTopicPartition
	log     *logstore.Log
	topic   string
	records []byte
	ordered chan struct{} // closed once the batch is ordered in the log (or failed)
	after   chan struct{} // the same partition's earlier batch in this request, if any
	once    sync.Once
	dup     *DuplicateBatchError
}

func (w *produceWork) markOrdered() { w.once.Do(func() { close(w.ordered) }) }

func handleProduce(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	// Whole-request refusals still answer every partition.
	var reqErr *kerr.Error
	var reqMsg string
	switch {
	case req.TransactionID != nil:
		reqErr, reqMsg = kerr.TransactionalIDAuthorizationFailed, "kafka: transactions are not supported by this broker"
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr, reqMsg = kerr.InvalidRequiredAcks, fmt.Sprintf("kafka: acks must be -1, 0 or 1, not %d", req.Acks)
	}

	var work []*produceWork
	lastForLog := map[*logstore.Log]*produceWork{}
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		tr := &resp.Topics[i]
		*tr = kmsg.NewProduceResponseTopic()
		tr.Topic = rt.Topic
		tr.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		var tErr error
		var t interface {
			Partition(int32) *logstore.Log
		}
		if reqErr == nil {
			tt, err := lookupTopic(rc, rt.Topic, rc.Config.AutoCreateTopics)
			if err != nil {
				tErr = err
			} else {
				t = tt
			}
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pr := &tr.Partitions[j]
			*pr = kmsg.NewProduceResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.BaseOffset = -1
			pr.LogAppendTime = -1
			pr.LogStartOffset = -1
			switch {
			case reqErr != nil:
				pr.ErrorCode, pr.ErrorMessage = reqErr.Code, kmsg.StringPtr(reqMsg)
				continue
			case tErr != nil:
				pr.ErrorCode, pr.ErrorMessage = errorCode(tErr), errorMessage(tErr)
				continue
			}
			log := t.Partition(rp.Partition)
			if log == nil {
				pr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				pr.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("kafka: topic %q has no partition %d", rt.Topic, rp.Partition))
				continue
			}
			if code, msg := checkProduceRecords(rp.Records, req.Version); code != 0 {
				pr.ErrorCode, pr.ErrorMessage = code, kmsg.StringPtr(msg)
				continue
			}
			w := &produceWork{resp: pr, log: log, topic: rt.Topic, records: rp.Records, ordered: make(chan struct{})}
			if prev := lastForLog[log]; prev != nil {
				w.after = prev.ordered // a partition listed twice is appended in request order
			}
			lastForLog[log] = w
			work = append(work, w)
		}
	}

	var wg sync.WaitGroup
	for _, w := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.markOrdered()
			if w.after != nil {
				<-w.after
			}
			rc.Server.appendBatch(rc, w)
		}()
	}
	// Once every batch has its place in its log, later requests on this
	// connection may be appended behind them while we wait for the fsync.
	for _, w := range work {
		<-w.ordered
	}
	rc.release()
	wg.Wait()

	// A duplicate is answered once the original is durable, as acks=all
	// promises (it may still be waiting for its fsync in another request).
	if req.Acks != 0 {
		deadline := time.Now().Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
		for _, w := range work {
			if w.dup != nil && !waitDurable(rc, w.log, w.dup.LastOffset, deadline) {
				w.resp.ErrorCode = kerr.RequestTimedOut.Code
			}
		}
	}

	if req.Acks == 0 {
		for i := range resp.Topics {
			for _, p := range resp.Topics[i].Partitions {
				if p.ErrorCode != 0 {
					// Kafka closes the connection so that an acks=0
					// producer notices and refreshes its metadata.
					return nil, fmt.Errorf("kafka: acks=0 produce to %s[%d] failed: %s", resp.Topics[i].Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
		return nil, nil
	}
	return resp, nil
}

// checkProduceRecords applies Kafka's v3+ rule: exactly one record batch of
// magic 2. It returns a zero code when the records may go to the log.
func checkProduceRecords(b []byte, version int16) (int16, string) {
	invalid := kerr.InvalidRecord.Code
	if version < 8 {
		invalid = kerr.CorruptMessage.Code // INVALID_RECORD came with v8
	}
	if len(b) < batchMagicOffset+1 {
		if len(b) == 0 {
			return invalid, "kafka: produce requests must contain exactly one record batch per partition (got none)"
		}
		return kerr.CorruptMessage.Code, fmt.Sprintf("kafka: record batch truncated (%d bytes)", len(b))
	}
	if magic := int8(b[batchMagicOffset]); magic != 2 {
		return invalid, fmt.Sprintf("kafka: produce v3+ requires record batches of magic 2, got magic %d", magic)
	}
	if len(b) < batchHeaderSize {
		return kerr.CorruptMessage.Code, fmt.Sprintf("kafka: record batch truncated (%d bytes)", len(b))
	}
	total := 12 + int64(int32(binary.BigEndian.Uint32(b[batchLengthOffset:])))
	switch {
	case total < batchHeaderSize || total > int64(len(b)):
		return kerr.CorruptMessage.Code, fmt.Sprintf("kafka: record batch length %d does not match the %d bytes sent", total, len(b))
	case total < int64(len(b)):
		return invalid, "kafka: produce requests must contain exactly one record batch per partition"
	}
	attrs := binary.BigEndian.Uint16(b[batchAttributesOffset:])
	if attrs&(attrTransactional|attrControl) != 0 {
		return invalid, "kafka: transactional and control batches are not supported by this broker"
	}
	return 0, ""
}

// appendBatch appends one partition's batch and fills its response.
func (s *Server) appendBatch(rc *requestContext, w *produceWork) {
	pr := w.resp
	// Kafka stamps the leader epoch on append; ours is always 0. The field
	// is outside the CRC.
	binary.BigEndian.PutUint32(w.records[batchLeaderEpochOffset:], 0)

	var ps *partitionState
	h, err := logstore.ParseBatchHeader(w.records)
	if err == nil && h.ProducerID >= 0 {
		ps, err = s.producers.forLog(w.log, w.topic, pr.Partition)
	}
	if err != nil {
		pr.ErrorCode, pr.ErrorMessage = errorCode(err), errorMessage(err)
		return
	}
	checked := false
	res, err := w.log.Append(w.records, logstore.AppendOptions{Check: func(h *logstore.BatchHeader, base int64) error {
		w.markOrdered()
		if ps == nil {
			return nil
		}
		err := ps.check(h, base)
		checked = err == nil
		return err
	}})
	var dup *DuplicateBatchError
	switch {
	case err == nil:
		pr.BaseOffset = res.BaseOffset
		pr.LogStartOffset = res.LogStartOffset
	case errors.As(err, &dup):
		w.dup = dup
		pr.BaseOffset = dup.BaseOffset
		pr.LogStartOffset = w.log.StartOffset()
	default:
		if checked {
			// The state recorded a batch that did not make it to the
			// log: rebuild it from the log on next use.
			s.producers.forget(w.log)
		}
		pr.ErrorCode, pr.ErrorMessage = errorCode(err), errorMessage(err)
		if pr.ErrorCode == kerr.UnknownServerError.Code || pr.ErrorCode == kerr.KafkaStorageError.Code {
			rc.Logger.Error("kafka: append failed", "topic", w.topic, "partition", pr.Partition, "err", err)
		}
	}
}

// waitDurable waits until offset is below the log's high watermark (for
// the default flush policy: fsynced), the deadline passes (false) or the
// connection closes (false).
func waitDurable(rc *requestContext, log *logstore.Log, offset int64, deadline time.Time) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	prev := int64(-1)
	for {
		ch := log.Changed()
		hw := log.HighWatermark()
		if hw > offset {
			return true
		}
		if hw == prev {
			return false // woken without progress: the log was closed
		}
		prev = hw
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		if timer == nil {
			timer = time.NewTimer(d)
		}
		select {
		case <-ch:
		case <-timer.C:
			return log.HighWatermark() > offset
		case <-rc.Ctx.Done():
			return false
		}
	}
}
