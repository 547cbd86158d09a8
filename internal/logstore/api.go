package logstore

// This file is the contract other packages build on. The implementation
// (segment.go, index.go, recovery, group commit …) fills in the bodies.

import (
	"errors"
	"log/slog"
	"os"
	"time"
)

// FlushPolicy says when appended data is fsynced.
type FlushPolicy string

const (
	// FlushAlways: an append returns only after the fsync that covers it.
	// Concurrent appenders share fsyncs (group commit). The default.
	FlushAlways FlushPolicy = "always"
	// FlushInterval: data is fsynced every Config.FlushInterval (flush.ms).
	FlushInterval FlushPolicy = "interval"
	// FlushNone: the page cache only; fsync on roll and Close.
	FlushNone FlushPolicy = "none"
)

// Config configures one log. The zero value is usable: every zero field
// takes the default documented on it.
type Config struct {
	// SegmentBytes is segment.bytes: a segment rolls when the next batch
	// would take it past this size. Default 1 GiB.
	SegmentBytes int64
	// SegmentMs is segment.ms: a segment rolls on the first append after it
	// is this old. Default 7 days.
	SegmentMs int64
	// RetentionMs is retention.ms: whole segments whose newest record is
	// older than this are deleted. -1 keeps forever. Default 7 days.
	RetentionMs int64
	// RetentionBytes is retention.bytes: oldest whole segments are deleted
	// while the log is larger. -1 (the default) means no limit; 0 means default.
	RetentionBytes int64
	// IndexIntervalBytes is index.interval.bytes: an offset and time index
	// entry is written every this many bytes of log. Default 4096.
	IndexIntervalBytes int32
	// MaxBatchBytes is max.message.bytes: the largest batch accepted.
	// Default 1048588 (Kafka's).
	MaxBatchBytes int32
	// Flush is the flush policy. Default FlushAlways.
	Flush FlushPolicy
	// FlushInterval is flush.ms for FlushInterval. Default 1s.
	FlushInterval time.Duration
	// Logger receives recovery and retention reports. Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time; tests set it. Default time.Now.
	Now func() time.Time
}

// Errors. Typed errors wrap these sentinels; test with errors.Is.
var (
	ErrCorruptBatch     = errors.New("logstore: corrupt record batch")
	ErrBatchTooLarge    = errors.New("logstore: record batch too large")
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")
	ErrClosed           = errors.New("logstore: log closed")
	// ErrLogFailed: an earlier write or fsync failed; the log refuses further
	// appends until it is reopened (and recovered).
	ErrLogFailed = errors.New("logstore: log failed after a write error")
)

// BatchHeader is the fixed 61-byte header of a Kafka v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the BatchLength field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// AppendOptions tunes one Append.
type AppendOptions struct {
	// Check, if set, runs under the log's append lock, after the batch is
	// validated and before it is written, with the header and the base
	// offset the batch will get. A non-nil error refuses the append and is
	// returned as is. The Kafka layer checks idempotent sequences here.
	// h belongs to the log and is valid only during the call.
	Check func(h *BatchHeader, baseOffset int64) error
}

// AppendResult describes an appended batch.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1: the log keeps CreateTime timestamps (Kafka's answer for them)
	LogStartOffset int64
}

// Chunk is a byte range of a segment file holding whole batches, ready to
// send. Release it when done: until then the file stays open even if
// retention deletes the segment.
type Chunk struct {
	File *os.File
	Pos  int64
	Size int64

	seg *segment // the reference Release drops
}
