package kafka

// What the consumer-group API handlers (08, 09, 10, 11, 12, 13, 14, 15,
// 16, 42, 47) share: the translation of internal/group's errors into Kafka
// error codes (the only place where they meet the wire) and small helpers.
// The coordinator itself is internal/group; Config.Groups hands it in.

import (
	"errors"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-mq/sluice/internal/group"
)

// groupErrorTable maps the coordinator's errors to Kafka codes.
var groupErrorTable = []struct {
	err  error
	code *kerr.Error
}{
	{group.ErrClosed, kerr.NotCoordinator},
	{group.ErrNotCoordinator, kerr.NotCoordinator},
	{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	{group.ErrInvalidGroupID, kerr.InvalidGroupID},
	{group.ErrUnknownMemberID, kerr.UnknownMemberID},
	{group.ErrIllegalGeneration, kerr.IllegalGeneration},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrFencedInstanceID, kerr.FencedInstanceID},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrInconsistentGroupProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrGroupMaxSizeReached, kerr.GroupMaxSizeReached},
	{group.ErrGroupIDNotFound, kerr.GroupIDNotFound},
	{group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
	{group.ErrGroupSubscribedToTopic, kerr.GroupSubscribedToTopic},
	{group.ErrOffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge},
}

// groupErrorCode returns the Kafka code for a coordinator error (0 for
// nil), falling back to the server-wide table.
func groupErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	for _, e := range groupErrorTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return errorCode(err)
}

// groupOperations is what DescribeGroups reports as authorized when asked
// (KIP-430): READ, DELETE and DESCRIBE — everything Kafka defines for a
// group resource; Sluice has no ACLs.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// clientHost is a member's host as Kafka shows it (InetAddress.toString
// of the connection's peer, "/127.0.0.1").
func clientHost(rc *requestContext) string {
	if ta, ok := rc.RemoteAddr.(*net.TCPAddr); ok {
		return "/" + ta.IP.String()
	}
	if rc.RemoteAddr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(rc.RemoteAddr.String())
	if err != nil {
		return "/" + rc.RemoteAddr.String()
	}
	return "/" + host
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// strPtr returns &s, or nil for "" when null is how the protocol says
// "none".
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// topicPartitionKnown reports whether the topic and partition exist
// (OffsetCommit and OffsetDelete answer UNKNOWN_TOPIC_OR_PARTITION
// otherwise, as Kafka does from its metadata cache).
func topicPartitionKnown(rc *requestContext, topic string, partition int32) bool {
	t := rc.Topics.Get(topic)
	return t != nil && partition >= 0 && partition < t.NumPartitions()
}
