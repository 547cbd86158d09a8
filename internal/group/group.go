package group

// The model of one classic group: its members, state and committed
// offsets, and the state-machine helpers that do not schedule anything
// (membership.go drives them). Every method here needs Coordinator.mu held.

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, as Kafka names them.
type State int8

const (
	// StateEmpty: no members (the group may still hold committed offsets).
	StateEmpty State = iota
	// StatePreparingRebalance: waiting for the members to (re)join.
	StatePreparingRebalance
	// StateCompletingRebalance: joined; waiting for the leader's assignment.
	StateCompletingRebalance
	// StateStable: every member has its assignment.
	StateStable
	// StateDead: removed (deleted, or expired with no offsets left).
	StateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

// String returns Kafka's name of the state (DescribeGroups, ListGroups).
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// ParseState returns the state named s (case-insensitive, as ListGroups'
// states filter matches).
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if equalFold(n, s) {
			return State(i), true
		}
	}
	return 0, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// consumerProtocolType is the protocol type of Kafka consumers; their
// metadata and assignments have a known format (kmsg.ConsumerMemberMetadata).
const consumerProtocolType = "consumer"

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Protocol is one assignment protocol a member supports, with its metadata
// (for consumers: the subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32 // -1 if not given
	metadata    string
	commitMs    int64
	expireMs    int64 // -1: expires with the group (KIP-211); else an explicit retention (OffsetCommit v2-v4)
}

type joinOutcome struct {
	res JoinResult
	err error
}

type syncOutcome struct {
	res SyncResult
	err error
}

type member struct {
	id, instanceID       string // instanceID "" for a dynamic member
	clientID, clientHost string
	protocolType         string
	protocols            []Protocol
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	assignment           []byte
	// join and sync are the waiting JoinGroup and SyncGroup requests
	// (buffered channels of one; nil when none waits).
	join chan joinOutcome
	sync chan syncOutcome
	// isNew: has not completed a join yet; it expires after
	// Config.NewMemberJoinTimeout even while waiting in one.
	isNew bool
	hb    *timerEntry // heartbeat expiry
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether ps are the member's protocols, names and
// metadata, in order.
func (m *member) matches(ps []Protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b Protocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
}

type group struct {
	id         string
	state      State
	prevState  State
	stateSince time.Time // zero when unknown (a group restored from offsets only)

	protocolType string // "" until a member joins; kept when the group empties
	protocol     string // selected protocol; "" when none
	generation   int32
	leader       string

	members      map[string]*member
	order        []string               // member ids in join order (Kafka's LinkedHashMap)
	pending      map[string]*timerEntry // ids handed out with MEMBER_ID_REQUIRED
	static       map[string]string      // group.instance.id -> member id
	protoCount   map[string]int         // protocol name -> members supporting it
	awaitingJoin int
	pendingSync  map[string]struct{}
	// newMemberAdded extends the initial rebalance delay.
	newMemberAdded bool
	joinTimer      *timerEntry
	syncTimer      *timerEntry
	// subscribed is the union of the consumer members' subscriptions for
	// the selected protocol; nil when unknown.
	subscribed map[string]struct{}

	offsets map[TopicPartition]offsetEntry
	// pendingWrites counts commits queued to the journal and not yet
	// applied, so that expiry does not remove a group about to get offsets.
	pendingWrites int
	// removed: no longer in the coordinator's map (deleted or expired);
	// journal callbacks may still land on it and must change nothing
	// visible.
	removed bool
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:          id,
		state:       StateEmpty,
		prevState:   StateEmpty,
		stateSince:  now,
		members:     make(map[string]*member),
		pending:     make(map[string]*timerEntry),
		static:      make(map[string]string),
		protoCount:  make(map[string]int),
		pendingSync: make(map[string]struct{}),
		offsets:     make(map[TopicPartition]offsetEntry),
	}
}

func (g *group) transitionTo(s State, now time.Time) {
	g.prevState, g.state, g.stateSince = g.state, s, now
}

// canRebalance: the states from which a rebalance may start.
func (g *group) canRebalance() bool {
	return g.state == StateStable || g.state == StateCompletingRebalance || g.state == StateEmpty
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pending) == 0
}

// rebalanceTimeout is the longest rebalance timeout among the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// supportsProtocols reports whether a member with these protocols may
// join: any type and protocols into an empty group, else the group's type
// and a protocol every current member supports.
func (g *group) supportsProtocols(protocolType string, ps []Protocol) bool {
	if g.state == StateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range ps {
		if g.protoCount[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that the most
// members list first (among those candidates); ties go to the one the
// earliest member prefers.
func (g *group) selectProtocol() string {
	votes := map[string]int{}
	var first string
	for _, id := range g.order {
		m := g.members[id]
		for _, p := range m.protocols {
			if g.protoCount[p.Name] == len(g.members) {
				votes[p.Name]++
				if first == "" {
					first = p.Name
				}
				break
			}
		}
	}
	best, bestN := first, votes[first]
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if n := votes[p.Name]; n > bestN {
				best, bestN = p.Name, n
			}
		}
	}
	return best
}

func (g *group) addProtocols(ps []Protocol, delta int) {
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		g.protoCount[p.Name] += delta
		if g.protoCount[p.Name] <= 0 {
			delete(g.protoCount, p.Name)
		}
	}
}

// add puts m in the group; the first member sets the protocol type and
// becomes leader.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	g.addProtocols(m.protocols, 1)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if m.join != nil {
		g.awaitingJoin++
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// remove takes m out of the group (its timers are the caller's business).
func (g *group) remove(m *member) {
	if g.members[m.id] != m {
		return
	}
	delete(g.members, m.id)
	if i := slices.Index(g.order, m.id); i >= 0 {
		g.order = slices.Delete(g.order, i, i+1)
	}
	g.addProtocols(m.protocols, -1)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if m.join != nil {
		g.awaitingJoin--
	}
	delete(g.pendingSync, m.id)
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// updateMember replaces m's protocols and timeouts and records its waiting
// JoinGroup. An older waiting JoinGroup of the same member (a client that
// retried on another connection) is answered REBALANCE_IN_PROGRESS.
func (g *group) updateMember(m *member, ps []Protocol, rebalance, session time.Duration, join chan joinOutcome) {
	g.addProtocols(m.protocols, -1)
	m.protocols = ps
	g.addProtocols(ps, 1)
	m.rebalanceTimeout, m.sessionTimeout = rebalance, session
	switch {
	case m.join != nil && join != nil:
		m.join <- joinOutcome{res: JoinResult{MemberID: m.id}, err: ErrRebalanceInProgress}
	case m.join == nil && join != nil:
		g.awaitingJoin++
	case m.join != nil && join == nil:
		g.awaitingJoin--
	}
	m.join = join
}

// completeJoin answers m's waiting JoinGroup, if any.
func (g *group) completeJoin(m *member, res JoinResult, err error) bool {
	if m.join == nil {
		return false
	}
	m.join <- joinOutcome{res: res, err: err}
	m.join = nil
	g.awaitingJoin--
	return true
}

// completeSync answers m's waiting SyncGroup, if any.
func (g *group) completeSync(m *member, res SyncResult, err error) bool {
	if m.sync == nil {
		return false
	}
	m.sync <- syncOutcome{res: res, err: err}
	m.sync = nil
	return true
}

// validateMember checks a request's member and instance ids: an instance
// id must map to this member id (else FENCED_INSTANCE_ID), a member id must
// be in the group (else UNKNOWN_MEMBER_ID).
func (g *group) validateMember(memberID, instanceID string) error {
	if instanceID != "" {
		cur, ok := g.static[instanceID]
		if !ok {
			return ErrUnknownMemberID
		}
		if cur != memberID {
			return fmt.Errorf("%w: group.instance.id %q belongs to member %s", ErrFencedInstanceID, instanceID, cur)
		}
		return nil
	}
	if _, ok := g.members[memberID]; !ok {
		return ErrUnknownMemberID
	}
	return nil
}

// replaceStaticMember gives the member of instanceID a new member id; its
// waiting requests, which belong to the old incarnation, are fenced.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	g.completeJoin(m, JoinResult{MemberID: oldID}, ErrFencedInstanceID)
	g.completeSync(m, SyncResult{}, ErrFencedInstanceID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	if i := slices.Index(g.order, oldID); i >= 0 {
		g.order[i] = newID
	}
	g.static[instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	return m
}

// currentMembers is the member list the leader gets in its JoinGroup
// response: every member with its metadata for the selected protocol.
func (g *group) currentMembers() []JoinedMember {
	out := make([]JoinedMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		out = append(out, JoinedMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadata(g.protocol)})
	}
	return out
}

// computeSubscribed returns the topics the members consume, when the
// group speaks the consumer protocol and every subscription decodes.
func (g *group) computeSubscribed() map[string]struct{} {
	if len(g.members) == 0 {
		return map[string]struct{}{}
	}
	if g.protocolType != consumerProtocolType || g.protocol == "" {
		return nil
	}
	out := map[string]struct{}{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			out[t] = struct{}{}
		}
	}
	return out
}

func (g *group) isSubscribedTo(topic string) bool {
	if g.subscribed == nil {
		return false
	}
	_, ok := g.subscribed[topic]
	return ok
}

// metadataRecord encodes the group as a GroupMetadata journal record, with
// assignment (nil: the members' current ones).
func (g *group) metadataRecord(assignment map[string][]byte) kv {
	v := kmsg.NewGroupMetadataValue()
	v.Version = valueVersionGroup
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = &g.protocol
	}
	if g.leader != "" && len(g.members) > 0 {
		v.Leader = &g.leader
	}
	v.CurrentStateTimestamp = -1
	if !g.stateSince.IsZero() {
		v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	}
	for _, id := range g.order {
		m := g.members[id]
		gm := kmsg.NewGroupMetadataValueMember()
		gm.MemberID, gm.ClientID, gm.ClientHost = m.id, m.clientID, m.clientHost
		if m.instanceID != "" {
			gm.InstanceID = &m.instanceID
		}
		gm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		gm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		gm.Subscription = m.metadata(g.protocol)
		gm.Assignment = m.assignment
		if assignment != nil {
			gm.Assignment = assignment[m.id]
		}
		v.Members = append(v.Members, gm)
	}
	return kv{key: journalKey{group: g.id}.encode(), value: v.AppendTo(nil)}
}

// newMemberID is Kafka's member id: the client id (or, for a static member,
// the instance id), a dash and a random UUID.
func newMemberID(prefix string) string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
