package topic

import (
	"errors"
	"fmt"
	"strings"
)

// Errors. Typed errors wrap these sentinels; test with errors.Is. The Kafka
// layer maps them onto wire error codes (TOPIC_ALREADY_EXISTS,
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
// INVALID_CONFIG, POLICY_VIOLATION) and sends Error() as the message.
var (
	ErrTopicExists       = errors.New("topic: topic already exists")
	ErrUnknownTopic      = errors.New("topic: unknown topic")
	ErrInvalidTopicName  = errors.New("topic: invalid topic name")
	ErrInvalidPartitions = errors.New("topic: invalid number of partitions")
	ErrInvalidConfig     = errors.New("topic: invalid config")
	// ErrPolicyViolation: the request is well formed but the broker's
	// limits refuse it (for instance Defaults.MaxTotalPartitions).
	ErrPolicyViolation = errors.New("topic: policy violation")
	ErrClosed          = errors.New("topic: registry closed")
)

// ConfigError names the topic config that was refused and why.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("topic: invalid config %q: %s", e.Key, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// NameError names a refused topic name and the rule it breaks.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("topic: invalid topic name %q: %s", e.Name, e.Reason)
}

// Unwrap returns ErrInvalidTopicName.
func (e *NameError) Unwrap() error { return ErrInvalidTopicName }

// MaxNameLength is Kafka's limit: 249, so that "<name>-<partition>" and the
// suffixes Kafka adds still fit in a 255-byte file name.
const MaxNameLength = 249

// ValidateName applies Kafka's topic name rules: 1..249 characters from
// [a-zA-Z0-9._-], and not "." or "..". It returns a *NameError.
func ValidateName(name string) error {
	switch {
	case name == "":
		return &NameError{Name: name, Reason: "the name is empty"}
	case name == "." || name == "..":
		return &NameError{Name: name, Reason: `"." and ".." are not allowed`}
	case len(name) > MaxNameLength:
		return &NameError{Name: name[:20] + "…", Reason: fmt.Sprintf("the name is %d characters long, the limit is %d", len(name), MaxNameLength)}
	}
	for i := 0; i < len(name); i++ {
		if !validNameByte(name[i]) {
			return &NameError{Name: name, Reason: fmt.Sprintf("character %q at position %d is not allowed (only ASCII letters, digits, '.', '_' and '-')", rune(name[i]), i)}
		}
	}
	return nil
}

func validNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// collisionKey is Kafka's rule that topic names differing only in '.'
// versus '_' collide (their metric names would be the same).
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }
