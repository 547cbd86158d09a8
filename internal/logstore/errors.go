package logstore

import (
	"errors"
	"fmt"
)

// ErrCorruptSegment means that a segment file holds a damaged batch where a torn
// tail cannot explain it (anywhere but at the end of the newest segment),
// or the segments do not fit together. Open refuses such a log rather than
// drop acknowledged data; the error (a *SegmentError) names the file.
var ErrCorruptSegment = errors.New("logstore: corrupt segment")

// ErrCorruptCheckpoint means that the log-start-offset checkpoint file is
// damaged.
var ErrCorruptCheckpoint = errors.New("logstore: corrupt checkpoint")

// BatchError reports a malformed record batch. Unwrap returns
// ErrCorruptBatch.
type BatchError struct {
	// Reason says what is wrong, in a few words.
	Reason string
}

func (e *BatchError) Error() string { return "logstore: corrupt record batch: " + e.Reason }

// Unwrap returns ErrCorruptBatch.
func (e *BatchError) Unwrap() error { return ErrCorruptBatch }

// OffsetOutOfRangeError reports an offset outside [Start, End] (End is the
// high watermark). Unwrap returns ErrOffsetOutOfRange.
type OffsetOutOfRangeError struct{ Offset, Start, End int64 }

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("logstore: offset %d out of range [%d, %d]", e.Offset, e.Start, e.End)
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }

// SegmentError reports damage found by Open in a segment file. Unwrap
// returns ErrCorruptSegment.
type SegmentError struct {
	Path   string // the damaged file
	Pos    int64  // byte position of the damage, -1 if not about one place
	Reason string
}

func (e *SegmentError) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("logstore: corrupt segment %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("logstore: corrupt segment %s at byte %d: %s", e.Path, e.Pos, e.Reason)
}

// Unwrap returns ErrCorruptSegment.
func (e *SegmentError) Unwrap() error { return ErrCorruptSegment }
