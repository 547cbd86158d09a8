package group

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/sluice-mq/sluice/internal/topic"
)

// Config configures a Coordinator. The zero value is usable: every zero
// field takes the default documented on it, which is Kafka's default for the
// setting of the same name.
type Config struct {
	// Dir holds the offsets journal (journal.go). Empty keeps everything in
	// memory: committed offsets and groups are lost on Close (tests, and
	// servers embedded without a data directory).
	Dir string

	// Topics, when set, gives Lag its log end offsets and lets the offset
	// expiry drop the offsets of deleted topics. Optional.
	Topics *topic.Registry

	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms: a
	// JoinGroup asking for a session timeout outside them gets
	// INVALID_SESSION_TIMEOUT. Defaults 6s and 30 min.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration

	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: the first
	// rebalance of an empty group waits this long (extended while new
	// members keep arriving, up to the rebalance timeout) so that members
	// starting together land in one generation. Default 3s; a negative
	// value means 0.
	InitialRebalanceDelay time.Duration

	// NewMemberJoinTimeout bounds how long a member that has never completed
	// a join may wait in one (Kafka's group.classic.new.member.join.timeout,
	// fixed at 5 min in older brokers). Default 5 min.
	NewMemberJoinTimeout time.Duration

	// MaxGroupSize is group.max.size: members beyond it get
	// GROUP_MAX_SIZE_REACHED. Default 2147483647 (no limit).
	MaxGroupSize int

	// OffsetsRetention is offsets.retention.minutes: the committed offsets of
	// a group that has been empty this long are deleted (KIP-211); offsets
	// of groups that never used group management expire this long after
	// their last commit. Default 7 days.
	OffsetsRetention time.Duration

	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms,
	// how often expiry runs. Default 10 min.
	OffsetsRetentionCheckInterval time.Duration

	// OffsetMetadataMaxBytes is offset.metadata.max.bytes: a commit whose
	// metadata string is longer gets OFFSET_METADATA_TOO_LARGE. Default 4096.
	OffsetMetadataMaxBytes int

	// CompactRecords is the journal size, in records written since its last
	// compaction, past which it is compacted (when it also holds twice as
	// many records as there are live keys). Default 100000.
	CompactRecords int64

	// Logger receives membership and storage reports. Default slog.Default().
	Logger *slog.Logger

	// Now returns the current time for commit timestamps, group state
	// times and offset expiry; tests set it. Session, rebalance and other
	// timeouts always run on the real clock. Default time.Now.
	Now func() time.Time
}

// Defaults of Config, in Kafka's terms.
const (
	DefaultMinSessionTimeout             = 6 * time.Second
	DefaultMaxSessionTimeout             = 30 * time.Minute
	DefaultInitialRebalanceDelay         = 3 * time.Second
	DefaultNewMemberJoinTimeout          = 5 * time.Minute
	DefaultMaxGroupSize                  = math.MaxInt32
	DefaultOffsetsRetention              = 7 * 24 * time.Hour
	DefaultOffsetsRetentionCheckInterval = 10 * time.Minute
	DefaultOffsetMetadataMaxBytes        = 4096
	DefaultCompactRecords                = 100000
)

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = DefaultInitialRebalanceDelay
	} else if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.NewMemberJoinTimeout == 0 {
		c.NewMemberJoinTimeout = DefaultNewMemberJoinTimeout
	}
	if c.MaxGroupSize == 0 {
		c.MaxGroupSize = DefaultMaxGroupSize
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = DefaultOffsetsRetentionCheckInterval
	}
	if c.OffsetMetadataMaxBytes == 0 {
		c.OffsetMetadataMaxBytes = DefaultOffsetMetadataMaxBytes
	}
	if c.CompactRecords == 0 {
		c.CompactRecords = DefaultCompactRecords
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first unusable field of c (after WithDefaults), by
// name.
func (c Config) Validate() error {
	switch {
	case c.MinSessionTimeout < 0:
		return fmt.Errorf("group: Config.MinSessionTimeout (group.min.session.timeout.ms) %v: must be positive", c.MinSessionTimeout)
	case c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("group: Config.MaxSessionTimeout (group.max.session.timeout.ms) %v: must be at least MinSessionTimeout %v", c.MaxSessionTimeout, c.MinSessionTimeout)
	case c.NewMemberJoinTimeout < 0:
		return fmt.Errorf("group: Config.NewMemberJoinTimeout %v: must be positive", c.NewMemberJoinTimeout)
	case c.MaxGroupSize < 1:
		return fmt.Errorf("group: Config.MaxGroupSize (group.max.size) %d: must be at least 1", c.MaxGroupSize)
	case c.OffsetsRetention < 0:
		return fmt.Errorf("group: Config.OffsetsRetention (offsets.retention.minutes) %v: must be positive", c.OffsetsRetention)
	case c.OffsetsRetentionCheckInterval < 0:
		return fmt.Errorf("group: Config.OffsetsRetentionCheckInterval (offsets.retention.check.interval.ms) %v: must be positive", c.OffsetsRetentionCheckInterval)
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("group: Config.OffsetMetadataMaxBytes (offset.metadata.max.bytes) %d: must not be negative", c.OffsetMetadataMaxBytes)
	case c.CompactRecords < 1:
		return fmt.Errorf("group: Config.CompactRecords %d: must be positive", c.CompactRecords)
	}
	return nil
}
