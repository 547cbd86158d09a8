package logstore

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Defaults, in Kafka's terms.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * 60 * 60 * 1000
	DefaultRetentionMs        = 7 * 24 * 60 * 60 * 1000
	DefaultIndexIntervalBytes = 4096
	DefaultMaxBatchBytes      = 1048588
	DefaultFlushInterval      = time.Second

	// maxSegmentBytes keeps every byte position of a segment within the
	// uint32 positions of the offset index (Kafka's segment.bytes is an
	// int for the same reason).
	maxSegmentBytes = math.MaxInt32
)

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentMs == 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.Flush == "" {
		c.Flush = FlushAlways
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first invalid field of c (after WithDefaults).
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < batchHeaderSize || c.SegmentBytes > maxSegmentBytes:
		return fmt.Errorf("logstore: Config.SegmentBytes (segment.bytes) %d: must be in [%d, %d]", c.SegmentBytes, batchHeaderSize, maxSegmentBytes)
	case c.SegmentMs < 1:
		return fmt.Errorf("logstore: Config.SegmentMs (segment.ms) %d: must be positive", c.SegmentMs)
	case c.RetentionMs < -1:
		return fmt.Errorf("logstore: Config.RetentionMs (retention.ms) %d: must be -1 or positive", c.RetentionMs)
	case c.RetentionBytes < -1:
		return fmt.Errorf("logstore: Config.RetentionBytes (retention.bytes) %d: must be -1 or positive", c.RetentionBytes)
	case c.IndexIntervalBytes < 1:
		return fmt.Errorf("logstore: Config.IndexIntervalBytes (index.interval.bytes) %d: must be positive", c.IndexIntervalBytes)
	case c.MaxBatchBytes < batchHeaderSize:
		return fmt.Errorf("logstore: Config.MaxBatchBytes (max.message.bytes) %d: must be at least %d", c.MaxBatchBytes, batchHeaderSize)
	case c.Flush != FlushAlways && c.Flush != FlushInterval && c.Flush != FlushNone:
		return fmt.Errorf("logstore: Config.Flush %q: must be always, interval or none", c.Flush)
	case c.FlushInterval <= 0:
		return fmt.Errorf("logstore: Config.FlushInterval (flush.ms) %v: must be positive", c.FlushInterval)
	}
	return nil
}
