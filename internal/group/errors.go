package group

import (
	"errors"
	"fmt"
)

// Errors of the coordinator. Each is one Kafka error code (the Kafka layer
// translates them at its edge); messages are wrapped around them with
// fmt.Errorf("%w: …") where a detail helps. Test with errors.Is.
var (
	// ErrClosed: the coordinator was closed.
	ErrClosed = errors.New("group: coordinator closed")
	// ErrCoordinatorNotAvailable: the group is being removed (Dead); the
	// client should look the coordinator up again and retry
	// (COORDINATOR_NOT_AVAILABLE).
	ErrCoordinatorNotAvailable = errors.New("group: coordinator not available")
	// ErrNotCoordinator: the offsets journal failed, so this broker cannot
	// coordinate groups until it is restarted (NOT_COORDINATOR, Kafka's
	// answer to a storage error on the offsets topic).
	ErrNotCoordinator = errors.New("group: not coordinator: offsets journal unavailable")
	// ErrInvalidGroupID: empty group id where one is required.
	ErrInvalidGroupID = errors.New("group: invalid group id")
	// ErrUnknownMemberID: the member id is not (or no longer) in the group.
	ErrUnknownMemberID = errors.New("group: unknown member id")
	// ErrIllegalGeneration: the generation is not the group's current one.
	ErrIllegalGeneration = errors.New("group: illegal generation")
	// ErrRebalanceInProgress: the group is rebalancing; rejoin.
	ErrRebalanceInProgress = errors.New("group: rebalance in progress")
	// ErrMemberIDRequired: the first JoinGroup (v4+) of a dynamic member;
	// the response carries the member id to join with (KIP-394).
	ErrMemberIDRequired = errors.New("group: member id required")
	// ErrFencedInstanceID: another member took this group.instance.id.
	ErrFencedInstanceID = errors.New("group: fenced instance id")
	// ErrInvalidSessionTimeout: outside group.min/max.session.timeout.ms.
	ErrInvalidSessionTimeout = errors.New("group: invalid session timeout")
	// ErrInconsistentGroupProtocol: protocol type or protocols do not match
	// the group's.
	ErrInconsistentGroupProtocol = errors.New("group: inconsistent group protocol")
	// ErrGroupMaxSizeReached: group.max.size members already.
	ErrGroupMaxSizeReached = errors.New("group: group max size reached")
	// ErrGroupIDNotFound: no such group.
	ErrGroupIDNotFound = errors.New("group: group id not found")
	// ErrNonEmptyGroup: the group has members.
	ErrNonEmptyGroup = errors.New("group: group is not empty")
	// ErrGroupSubscribedToTopic: the group's members consume the topic.
	ErrGroupSubscribedToTopic = errors.New("group: group is subscribed to the topic")
	// ErrOffsetMetadataTooLarge: metadata over offset.metadata.max.bytes.
	ErrOffsetMetadataTooLarge = errors.New("group: offset metadata too large")
	// ErrCorruptJournal: the offsets journal holds a record that does not
	// decode; Open refuses it rather than guess.
	ErrCorruptJournal = errors.New("group: corrupt offsets journal")
)

// JournalError reports a journal record that cannot be used.
type JournalError struct {
	Dir    string
	Offset int64 // the record's offset in the journal log
	Reason string
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("group: offsets journal %s: record at offset %d: %s", e.Dir, e.Offset, e.Reason)
}

// Unwrap returns ErrCorruptJournal.
func (e *JournalError) Unwrap() error { return ErrCorruptJournal }
