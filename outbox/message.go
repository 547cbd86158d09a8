package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// IDAttribute is the attribute (SQS message attribute, Kafka record header)
// under which every published outbox message carries its Message.ID. A
// consumer hands that value to an Inbox to make redeliveries harmless.
const IDAttribute = "sluice-outbox-id"

// Message is one outbox row: what to publish, where to, and (when read back
// by a relay) its bookkeeping.
type Message struct {
	// Destination is the Kafka topic or the SQS queue (name or queue URL)
	// the message goes to. Required.
	Destination string
	// Key is the Kafka record key (partitioning, per-key order) and the
	// SQS FIFO MessageGroupId. Optional.
	Key []byte
	// Body is the payload. SQS requires valid UTF-8 text.
	Body []byte
	// Attributes become Kafka headers / SQS String message attributes.
	// The relay adds IDAttribute. Optional.
	Attributes map[string]string
	// ID identifies the message for consumers (IDAttribute) and is the SQS
	// FIFO MessageDeduplicationId. Unique per outbox table: enqueuing an ID
	// that is already there fails the insert. Enqueue fills in a fresh
	// NewID when empty (the caller sees it when it passed a slice with
	// "msgs..."). At most 128 characters of [A-Za-z0-9] and punctuation.
	ID string

	// Set on messages a relay claimed:
	Seq       int64     // the row's sequence number (its primary key)
	CreatedAt time.Time // when the enqueuing transaction ran
	Attempts  int       // publish attempts before this one
}

// Errors.
var (
	// ErrInvalidMessage is wrapped by *MessageError.
	ErrInvalidMessage = errors.New("outbox: invalid message")
	// ErrInvalidConfig is wrapped by *ConfigError.
	ErrInvalidConfig = errors.New("outbox: invalid configuration")
	// ErrClosed is returned by a closed store.
	ErrClosed = errors.New("outbox: closed")
	// ErrRunning is returned by Relay.Run when the relay is already running.
	ErrRunning = errors.New("outbox: relay already running")
	// ErrSchemaVersion is returned by Migrate when the database holds a
	// newer schema than this code knows.
	ErrSchemaVersion = errors.New("outbox: schema is newer than this version of the outbox")
	// ErrLeaseLost is returned by a SQLite claim's Finish when some rows'
	// lease expired and another relay took them over while this one was
	// publishing (they may be published twice: at-least-once).
	ErrLeaseLost = errors.New("outbox: claim lease expired before the batch was finished")
)

// MessageError names the message and field that Enqueue refused.
type MessageError struct {
	Index  int    // position in the Enqueue call
	Field  string // "Destination", "ID", …
	Reason string
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("outbox: message %d: %s: %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidMessage.
func (e *MessageError) Unwrap() error { return ErrInvalidMessage }

// ConfigError names the configuration field that was refused.
type ConfigError struct {
	Field  string // e.g. "PostgresConfig.Table"
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("outbox: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// PublishError reports that some messages of a batch were not published,
// by their index in the slice given to Publish. A Publisher returns it for a
// partial failure; any other error means the whole batch failed.
type PublishError struct {
	Failed map[int]error
}

func (e *PublishError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "outbox: %d message(s) not published", len(idx))
	for n, i := range idx {
		if n == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; #%d: %v", i, e.Failed[i])
	}
	return b.String()
}

// Unwrap returns the individual failures.
func (e *PublishError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// Publisher sends a batch of messages to their destinations and returns
// once the broker has acknowledged them (nil), or reports which failed
// (*PublishError) or that all did (any other error). KafkaPublisher and
// SQSPublisher implement it.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, msgs []Message) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, msgs []Message) error { return f(ctx, msgs) }

// Store holds outbox rows. PostgresStore and SQLiteStore implement it; a
// Relay drives it.
type Store interface {
	// Claim reserves up to max pending rows that are due, oldest first, so
	// that no other relay publishes them until the claim is finished,
	// aborted, or (for stores with leases) expires. A claim of no rows is
	// not an error: Messages() is empty and Finish/Abort are no-ops.
	Claim(ctx context.Context, max int) (Claim, error)
	// Listen blocks until ctx ends, calling wake whenever new rows may be
	// pending; it returns nil when ctx ends and an error when it cannot
	// listen (the relay then retries it and polls meanwhile).
	Listen(ctx context.Context, wake func()) error
	// Cleanup deletes rows sent before sentBefore and reports how many.
	Cleanup(ctx context.Context, sentBefore time.Time) (int64, error)
}

// Claim is a batch reserved by Store.Claim.
type Claim interface {
	// Messages are the claimed rows, oldest first.
	Messages() []Message
	// Deadline is when the reservation lapses (zero: it lasts until
	// Finish or Abort, as a PostgreSQL row lock does). Publishing must end
	// before it, or another relay may publish the rows too.
	Deadline() time.Time
	// Finish marks every message sent except those in failed (by index),
	// which count an attempt, remember the error and become due again
	// after their Delay.
	Finish(ctx context.Context, failed map[int]Failure) error
	// Abort releases the rows unchanged (they are due again at once).
	Abort(ctx context.Context) error
}

// Failure is the outcome of one message that was not published.
type Failure struct {
	Err   error
	Delay time.Duration // until the next attempt
}

// NewID returns a fresh message ID: a UUIDv7 (time-ordered, 74 random bits).
func NewID() string {
	var u [16]byte
	ms := uint64(time.Now().UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	_, _ = rand.Read(u[6:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// Limits checked by Enqueue.
const (
	maxIDLen          = 128 // SQS MessageDeduplicationId limit
	maxDestinationLen = 1024
)

// prepare validates msgs, fills missing IDs and encodes the attributes as
// JSON (nil when there are none).
func prepare(msgs []Message) ([][]byte, error) {
	attrs := make([][]byte, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Destination == "" {
			return nil, &MessageError{Index: i, Field: "Destination", Reason: "empty"}
		}
		if len(m.Destination) > maxDestinationLen {
			return nil, &MessageError{Index: i, Field: "Destination", Reason: fmt.Sprintf("longer than %d bytes", maxDestinationLen)}
		}
		if m.ID == "" {
			m.ID = NewID()
		} else if err := checkID(m.ID); err != "" {
			return nil, &MessageError{Index: i, Field: "ID", Reason: err}
		}
		for k, v := range m.Attributes {
			if k == "" {
				return nil, &MessageError{Index: i, Field: "Attributes", Reason: "empty attribute name"}
			}
			if k == IDAttribute {
				return nil, &MessageError{Index: i, Field: "Attributes", Reason: IDAttribute + " is set by the relay (use Message.ID)"}
			}
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, &MessageError{Index: i, Field: "Attributes", Reason: fmt.Sprintf("%q: not valid UTF-8", k)}
			}
		}
		if len(m.Attributes) > 0 {
			b, err := json.Marshal(m.Attributes)
			if err != nil { // cannot happen for map[string]string of valid UTF-8
				return nil, &MessageError{Index: i, Field: "Attributes", Reason: err.Error()}
			}
			attrs[i] = b
		}
	}
	return attrs, nil
}

var idPattern = regexp.MustCompile(`^[\x21-\x7e]+$`) // printable ASCII, as SQS dedup ids

func checkID(id string) string {
	if len(id) > maxIDLen {
		return fmt.Sprintf("longer than %d characters", maxIDLen)
	}
	if !idPattern.MatchString(id) {
		return "only printable ASCII without spaces is allowed"
	}
	return ""
}

// decodeAttributes is the reverse of prepare's encoding.
func decodeAttributes(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("outbox: stored attributes are not a JSON object of strings: %w", err)
	}
	return m, nil
}

var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// checkIdent keeps table, schema and channel names to plain identifiers so
// that they can be spliced into SQL without quoting surprises.
func checkIdent(field, v string) error {
	if !identPattern.MatchString(v) {
		return &ConfigError{Field: field, Reason: fmt.Sprintf("%q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)", v)}
	}
	return nil
}
