package kafka

// Fetch (key 1), versions 4-12 served.
//
// v4 is the oldest version whose responses carry record batches of magic 2
// (kafka-python 2.0.2 uses it; Kafka 4.0 dropped v0-v3 too). v13+ name
// topics only by id and are not served.
//
//   - Long poll: the response is sent once at least MinBytes are available,
//     a partition has an error, or MaxWaitMillis passes; new data wakes the
//     request at once (logstore Log.Changed()). The wait holds this
//     connection (Kafka answers a connection's requests in order) but no
//     other: every connection has its own goroutines.
//   - Size limits (KIP-74): records are whole stored batches. A partition
//     gets at most PartitionMaxBytes and the response at most MaxBytes
//     (capped at maxFetchResponseBytes), except that the first partition
//     with data always gets at least one whole batch so that a consumer
//     can make progress past a batch bigger than its limits. Batches of a
//     later partition that do not fit are left for the next fetch.
//   - HighWatermark, LastStableOffset (= high watermark: there are no
//     transactions) and LogStartOffset are filled for every partition.
//     A FetchOffset below the log start or above the log end is
//     OFFSET_OUT_OF_RANGE; an offset between the high watermark and the log
//     end (data not yet fsynced) is answered with no records, as Kafka does
//     above its high watermark.
//   - The first batch may begin before FetchOffset (the batch containing
//     it); clients skip the records below the offset they asked for.
//   - Fetch sessions (KIP-227) are declined as the KIP allows: responses
//     carry SessionID 0, so clients keep sending full fetch requests
//     (franz-go and librdkafka both do). An incremental request for a
//     session is FETCH_SESSION_ID_NOT_FOUND, a request with SessionID 0 and
//     an epoch above 0 INVALID_FETCH_SESSION_EPOCH.
//
// Skipped: follower fetching (ReplicaID, rack-aware PreferredReadReplica
// is always -1), leader epoch checks (CurrentLeaderEpoch and
// LastFetchedEpoch are ignored: the leader epoch is always 0), aborted
// transactions (always empty), throttling, down-conversion, and zero-copy:
// records are copied from the segment file (pread into a pooled buffer,
// then into the response buffer) rather than sent with sendfile — future
// work, the logstore already offers Chunk.WriteTo.

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/logstore"
)

func init() {
	register(apiHandler{Key: 1, MinVersion: 4, MaxVersion: 12, Handle: handleFetch})
}

const (
	// maxFetchResponseBytes caps the records of one response whatever the
	// client asks, bounding memory per connection (franz-go and librdkafka
	// default to 50 MiB, fetch.max.bytes).
	maxFetchResponseBytes = 64 << 20
	// maxFetchWait caps MaxWaitMillis.
	maxFetchWait = 5 * time.Minute
)

// fetchBufPool recycles the buffers fetched records are read into.
var fetchBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

type fetchPart struct {
	resp     *kmsg.FetchResponseTopicPartition
	log      *logstore.Log
	offset   int64
	maxBytes int32
	lo, hi   int // records in the buffer
}

func handleFetch(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0

	switch {
	case req.SessionID != 0 && req.SessionEpoch != -1:
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	case req.SessionID == 0 && req.SessionEpoch > 0:
		resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		return resp, nil
	}

	var parts []*fetchPart
	hasError := false
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		tr := &resp.Topics[i]
		*tr = kmsg.NewFetchResponseTopic()
		tr.Topic = rt.Topic
		tr.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		t := rc.Topics.Get(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			pr := &tr.Partitions[j]
			*pr = kmsg.NewFetchResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.HighWatermark, pr.LastStableOffset, pr.LogStartOffset = -1, -1, -1
			// Empty, not null: librdkafka refuses a null record set
			// (MessageSetSize -1), and Kafka always sends a size.
			pr.RecordBatches = []byte{}
			var log *logstore.Log
			if t != nil {
				log = t.Partition(rp.Partition)
			}
			if log == nil {
				pr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				hasError = true
				continue
			}
			parts = append(parts, &fetchPart{resp: pr, log: log, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes})
		}
	}

	respMax := int64(req.MaxBytes)
	if respMax <= 0 || respMax > maxFetchResponseBytes {
		respMax = maxFetchResponseBytes
	}
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)

	bufp := fetchBufPool.Get().(*[]byte)
	buf := (*bufp)[:0]
	putBuf := func() {
		if cap(buf) <= 8<<20 { // do not keep huge buffers around
			*bufp = buf[:0]
			fetchBufPool.Put(bufp)
		}
	}

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Take the wake-up channels before reading so that data arriving
		// in between is not missed.
		var chans []<-chan struct{}
		if wait > 0 {
			chans = make([]<-chan struct{}, len(parts))
			for i, p := range parts {
				chans[i] = p.log.Changed()
			}
		}
		var total int64
		var errs bool
		buf, total, errs = readFetchParts(parts, buf[:0], respMax)
		if errs || hasError || total >= int64(req.MinBytes) || time.Until(deadline) <= 0 || len(parts) == 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		cases := make([]reflect.SelectCase, 0, len(chans)+2)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(rc.Ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
		for _, ch := range chans {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		chosen, _, _ := reflect.Select(cases)
		if chosen == 0 {
			putBuf()
			return nil, rc.Ctx.Err() // connection closing: nobody to answer
		}
		if chosen == 1 {
			deadline = time.Now() // answer with what is there now
		}
	}

	// The response points into the pooled buffer until the writer has
	// encoded it.
	for _, p := range parts {
		if p.hi > p.lo {
			p.resp.RecordBatches = buf[p.lo:p.hi:p.hi]
		}
	}
	rc.afterSend(putBuf)
	return resp, nil
}

// readFetchParts reads every partition into buf, applying the size limits,
// and fills offsets and errors. It reports the record bytes read and
// whether any partition got an error.
func readFetchParts(parts []*fetchPart, buf []byte, respMax int64) ([]byte, int64, bool) {
	var total int64
	errs := false
	for _, p := range parts {
		var n int64
		var failed bool
		buf, n, failed = readFetchPart(p, buf, total, respMax)
		total += n
		errs = errs || failed
	}
	return buf, total, errs
}

// readFetchPart reads one partition's records onto buf. total is what the
// partitions before it got.
func readFetchPart(p *fetchPart, buf []byte, total, respMax int64) (_ []byte, n int64, failed bool) {
	pr := p.resp
	p.lo, p.hi = 0, 0
	pr.ErrorCode = 0
	// The offsets are taken after the records, so that the high watermark
	// sent is never below the end of the records sent.
	defer func() {
		pr.HighWatermark = p.log.HighWatermark()
		pr.LastStableOffset = pr.HighWatermark
		pr.LogStartOffset = p.log.StartOffset()
	}()
	if total > 0 && total >= respMax {
		return buf, 0, false // response full: this partition waits for the next fetch
	}
	limit := min(int64(p.maxBytes), respMax-total)
	if limit <= 0 {
		limit = 1 // still read one batch; dropped below unless first with data
	}
	chunk, err := p.log.Read(p.offset, int32(min(limit, int64(maxFetchResponseBytes))))
	if err != nil {
		var oor *logstore.OffsetOutOfRangeError
		if errors.As(err, &oor) && p.offset >= p.log.StartOffset() && p.offset <= p.log.EndOffset() {
			return buf, 0, false // above the high watermark but within the log: nothing yet
		}
		pr.ErrorCode = errorCode(err)
		return buf, 0, true
	}
	defer chunk.Release()
	if chunk.Size == 0 {
		return buf, 0, false
	}
	if total > 0 && chunk.Size > limit {
		// KIP-74: only the first partition with data may exceed the
		// limits; this one's batch waits for a later fetch.
		return buf, 0, false
	}
	lo := len(buf)
	buf, err = chunk.AppendTo(buf)
	if err != nil {
		pr.ErrorCode = errorCode(err)
		if pr.ErrorCode == kerr.UnknownServerError.Code {
			pr.ErrorCode = kerr.KafkaStorageError.Code
		}
		return buf[:lo], 0, true
	}
	p.lo, p.hi = lo, len(buf)
	return buf, int64(p.hi - p.lo), false
}
