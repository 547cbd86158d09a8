package kafka

// Idempotent producer state: producer ids and per-partition sequence checks.
//
// Producer ids come from metastore.AllocateProducerIDs in blocks of
// producerIDBlock (durable, never reused after a restart), handed out by
// InitProducerId (22_init_producer_id.go).
//
// For each partition log, the table keeps per producer id its epoch and the
// metadata of its last maxBatchesPerProducer batches (first/last sequence,
// first/last offset), as Kafka's ProducerStateManager does. The state of a
// partition is only read and changed inside logstore's AppendOptions.Check,
// which runs under that log's append lock: that lock serialises it, and the
// table's mutex only guards the map of partitions.
//
// The checks, in Kafka 2.5+ terms (ProducerAppendInfo):
//   - epoch below the known one      -> INVALID_PRODUCER_EPOCH
//   - same first/last sequence as one of the last 5 batches -> duplicate:
//     answered NONE with the original base offset, nothing written
//   - higher epoch                   -> the sequence must start at 0
//     (OUT_OF_ORDER_SEQUENCE_NUMBER otherwise); the old batches are forgotten
//   - same epoch                     -> first sequence must follow the last
//     one (wrapping at MaxInt32), else OUT_OF_ORDER_SEQUENCE_NUMBER
//   - producer unknown on this partition (new, expired or its batches
//     deleted by retention): any sequence is accepted, as Kafka does since
//     KIP-360 (it no longer answers UNKNOWN_PRODUCER_ID for that case).
//
// Restart: the first idempotent append to a partition in a process first
// rebuilds the partition's state from the headers of the log's newest
// batches (logstore ScanBatches from EndOffset-rebuildWindowOffsets), so a
// retry of a batch written before a restart is still recognised.
// Producer state is not snapshotted: a producer whose last batches are
// further back than the rebuild window is treated as unknown (accepted).

import (
	"fmt"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-mq/sluice/internal/logstore"
)

const (
	maxBatchesPerProducer = 5 // Kafka's max.in.flight for idempotence
	producerIDBlock       = 1000
	// rebuildWindowOffsets bounds the scan that rebuilds producer state
	// after a restart: the newest this-many offsets of the log.
	rebuildWindowOffsets = 1 << 20
	// maxProducersPerPartition bounds memory: beyond it the producer that
	// wrote least recently is forgotten (it would be accepted as unknown).
	maxProducersPerPartition = 2000
)

type batchMeta struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
	maxTimestamp           int64
}

type producerEntry struct {
	epoch   int16
	batches [maxBatchesPerProducer]batchMeta // ring, oldest first from head
	head, n int
	lastUse uint64 // partitionState.clock at last append, for eviction
}

func (e *producerEntry) add(b batchMeta) {
	if e.n < maxBatchesPerProducer {
		e.batches[(e.head+e.n)%maxBatchesPerProducer] = b
		e.n++
		return
	}
	e.batches[e.head] = b
	e.head = (e.head + 1) % maxBatchesPerProducer
}

func (e *producerEntry) last() *batchMeta {
	if e.n == 0 {
		return nil
	}
	return &e.batches[(e.head+e.n-1)%maxBatchesPerProducer]
}

func (e *producerEntry) find(firstSeq, lastSeq int32) *batchMeta {
	for i := 0; i < e.n; i++ {
		b := &e.batches[(e.head+i)%maxBatchesPerProducer]
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b
		}
	}
	return nil
}

// partitionState is the producer state of one log. Guarded by the log's
// append lock (only touched inside Check) once loaded.
type partitionState struct {
	log       *logstore.Log
	topic     string
	partition int32
	loadOnce  sync.Once
	loadErr   error
	producers map[int64]*producerEntry
	clock     uint64
}

// producerTable holds every partition's producer state and the producer
// id allocator.
type producerTable struct {
	srv *Server

	mu      sync.Mutex
	parts   map[*logstore.Log]*partitionState
	pruneAt int // prune stale partitions when the map reaches this size

	idMu   sync.Mutex
	nextID int64 // next id to hand out; idEnd is one past the block
	idEnd  int64
	epochs map[int64]int16 // latest epoch handed out per re-initialised id
}

func newProducerTable(s *Server) *producerTable {
	return &producerTable{srv: s, parts: make(map[*logstore.Log]*partitionState), epochs: make(map[int64]int16)}
}

// DuplicateBatchError is returned by the sequence check for a retried batch
// that is already in the log. The produce handler answers it as success
// with the original offsets.
type DuplicateBatchError struct {
	BaseOffset, LastOffset int64
}

func (e *DuplicateBatchError) Error() string {
	return fmt.Sprintf("kafka: duplicate batch already at offsets %d-%d", e.BaseOffset, e.LastOffset)
}

// sequenceError is a refused idempotent batch with its Kafka error.
type sequenceError struct {
	code   *kerr.Error
	reason string
}

func (e *sequenceError) Error() string { return "kafka: " + e.reason }
func (e *sequenceError) Unwrap() error { return e.code }

// forLog returns the producer state of log (loading it from the log tail
// on first use). Concurrent callers for one log wait for one load.
func (pt *producerTable) forLog(log *logstore.Log, topicName string, partition int32) (*partitionState, error) {
	pt.mu.Lock()
	ps := pt.parts[log]
	if ps == nil {
		if len(pt.parts) >= pt.pruneAt {
			pt.pruneLocked()
			pt.pruneAt = max(64, 2*len(pt.parts)) // amortised O(1) per insertion
		}
		ps = &partitionState{log: log, topic: topicName, partition: partition, producers: make(map[int64]*producerEntry)}
		pt.parts[log] = ps
	}
	pt.mu.Unlock()
	ps.loadOnce.Do(func() { ps.loadErr = ps.rebuild() })
	if ps.loadErr != nil {
		pt.forget(log)
		return nil, ps.loadErr
	}
	return ps, nil
}

// forget drops a partition's state so that the next use rebuilds it from
// the log (after a failed append whose Check had already recorded it).
func (pt *producerTable) forget(log *logstore.Log) {
	pt.mu.Lock()
	delete(pt.parts, log)
	pt.mu.Unlock()
}

// pruneLocked drops the state of partitions whose log is no longer the
// registry's (topic deleted or recreated). Called from insertions, each
// time the map has doubled.
func (pt *producerTable) pruneLocked() {
	reg := pt.srv.cfg.Topics
	if reg == nil {
		return
	}
	for l, ps := range pt.parts {
		t := reg.Get(ps.topic)
		if t == nil || t.Partition(ps.partition) != l {
			delete(pt.parts, l)
		}
	}
}

// rebuild reads the headers of the newest batches and replays them.
func (ps *partitionState) rebuild() error {
	from := max(ps.log.StartOffset(), ps.log.EndOffset()-rebuildWindowOffsets)
	return ps.log.ScanBatches(from, func(h *logstore.BatchHeader) bool {
		if h.ProducerID < 0 || h.Magic != 2 {
			return true
		}
		ps.record(h, h.BaseOffset)
		return true
	})
}

// record remembers an appended batch (Check passed or replay).
func (ps *partitionState) record(h *logstore.BatchHeader, baseOffset int64) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		if len(ps.producers) >= maxProducersPerPartition {
			ps.evictOldest()
		}
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		*e = producerEntry{epoch: h.ProducerEpoch}
	}
	ps.clock++
	e.lastUse = ps.clock
	e.add(batchMeta{
		firstSeq:     h.BaseSequence,
		lastSeq:      addSeq(h.BaseSequence, h.LastOffsetDelta),
		baseOffset:   baseOffset,
		lastOffset:   baseOffset + int64(h.LastOffsetDelta),
		maxTimestamp: h.MaxTimestamp,
	})
}

func (ps *partitionState) evictOldest() {
	var oldID int64 = -1
	var oldUse uint64 = math.MaxUint64
	for id, e := range ps.producers {
		if e.lastUse < oldUse {
			oldID, oldUse = id, e.lastUse
		}
	}
	delete(ps.producers, oldID)
}

// addSeq adds a delta to a sequence number, wrapping at MaxInt32 as
// Kafka's sequences do.
func addSeq(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// check runs under the log's append lock (AppendOptions.Check). It
// validates the batch's producer id, epoch and sequence and, on success,
// records the batch as written at baseOffset.
func (ps *partitionState) check(h *logstore.BatchHeader, baseOffset int64) error {
	if h.ProducerID < 0 {
		return nil // not idempotent
	}
	if h.ProducerEpoch < 0 || h.BaseSequence < 0 {
		return &sequenceError{kerr.InvalidRecord, fmt.Sprintf("batch with producer id %d has no epoch or sequence (epoch %d, sequence %d)", h.ProducerID, h.ProducerEpoch, h.BaseSequence)}
	}
	firstSeq := h.BaseSequence
	lastSeq := addSeq(firstSeq, h.LastOffsetDelta)
	e := ps.producers[h.ProducerID]
	if e != nil {
		switch {
		case h.ProducerEpoch < e.epoch:
			return &sequenceError{kerr.InvalidProducerEpoch, fmt.Sprintf("producer %d epoch %d is older than the current epoch %d", h.ProducerID, h.ProducerEpoch, e.epoch)}
		case h.ProducerEpoch == e.epoch:
			if d := e.find(firstSeq, lastSeq); d != nil {
				return &DuplicateBatchError{BaseOffset: d.baseOffset, LastOffset: d.lastOffset}
			}
			if l := e.last(); l != nil && firstSeq != addSeq(l.lastSeq, 1) {
				return &sequenceError{kerr.OutOfOrderSequenceNumber, fmt.Sprintf("producer %d epoch %d: sequence %d does not follow %d", h.ProducerID, h.ProducerEpoch, firstSeq, l.lastSeq)}
			}
		default: // a newer epoch starts its sequences again at 0
			if firstSeq != 0 {
				return &sequenceError{kerr.OutOfOrderSequenceNumber, fmt.Sprintf("producer %d new epoch %d must start at sequence 0, not %d", h.ProducerID, h.ProducerEpoch, firstSeq)}
			}
		}
	}
	ps.record(h, baseOffset)
	return nil
}

// ---- producer ids ----

// allocateProducerID hands out a fresh producer id, taking a new durable
// block from the metastore when the current one is used up.
func (pt *producerTable) allocateProducerID() (int64, error) {
	pt.idMu.Lock()
	defer pt.idMu.Unlock()
	if pt.nextID >= pt.idEnd {
		first, err := pt.srv.cfg.Meta.AllocateProducerIDs(producerIDBlock)
		if err != nil {
			return -1, err
		}
		pt.nextID, pt.idEnd = first, first+producerIDBlock
	}
	id := pt.nextID
	pt.nextID++
	return id, nil
}

// bumpEpoch handles InitProducerId with an existing id and epoch (KIP-360,
// v3+): the same id comes back with epoch+1, so that the producer can
// reset its sequences without a new id. An epoch older than the latest one
// this process handed out for the id is fenced. When the epoch would
// overflow, or the id was never issued here, a fresh id is returned.
func (pt *producerTable) bumpEpoch(id int64, epoch int16) (int64, int16, error) {
	pt.idMu.Lock()
	issued := id < pt.nextID || (pt.idEnd == 0 && id >= 0)
	cur, known := pt.epochs[id]
	if issued && known && epoch != cur {
		pt.idMu.Unlock()
		return -1, -1, &sequenceError{kerr.InvalidProducerEpoch, fmt.Sprintf("producer %d epoch %d is not the current epoch %d", id, epoch, cur)}
	}
	if issued && epoch >= 0 && epoch < math.MaxInt16-1 {
		if len(pt.epochs) >= 100000 {
			clear(pt.epochs) // bound memory; forgetting only loosens fencing
		}
		pt.epochs[id] = epoch + 1
		pt.idMu.Unlock()
		return id, epoch + 1, nil
	}
	pt.idMu.Unlock()
	nid, err := pt.allocateProducerID()
	return nid, 0, err
}
