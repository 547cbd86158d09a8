package group

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups
// and offset expiry (KIP-211), plus the read-only views (DescribeGroups,
// ListGroups, lag).
//
// Offsets change only in journal callbacks, which run in log order: what
// OffsetFetch returns is always what replaying the journal would give, and
// a commit is visible only once it is durable.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// OffsetCommit is one partition's commit.
type OffsetCommit struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32 // -1 if unknown
	Metadata    string
}

// CommitRequest is an OffsetCommit request.
type CommitRequest struct {
	Group      string
	MemberID   string // "" with Generation -1: a commit outside group management
	InstanceID string
	Generation int32
	// Retention is the request's retention time (OffsetCommit v2-v4); 0 or
	// negative: the broker's offsets.retention.minutes, counted once the
	// group is empty.
	Retention time.Duration
	Offsets   []OffsetCommit
}

// CommitOffsets handles an OffsetCommit request. It returns one error per
// offset (nil: committed and durable) or an error for the whole request.
// ctx abandons the wait for durability (the commit may still land).
func (c *Coordinator) CommitOffsets(ctx context.Context, req CommitRequest) ([]error, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrNotCoordinator
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			// A member of a generation the coordinator never had.
			c.mu.Unlock()
			return nil, ErrIllegalGeneration
		}
		g = newGroup(req.Group, c.now())
		c.groups[req.Group] = g
	} else if err := c.validateCommit(g, req); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	now := c.now()
	errs := make([]error, len(req.Offsets))
	var (
		recs    []kv
		entries []OffsetCommit
		values  []offsetEntry
	)
	for i, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.OffsetMetadataMaxBytes {
			errs[i] = fmt.Errorf("%w: %d bytes, offset.metadata.max.bytes is %d", ErrOffsetMetadataTooLarge, len(o.Metadata), c.cfg.OffsetMetadataMaxBytes)
			continue
		}
		e := offsetEntry{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata, commitMs: now.UnixMilli(), expireMs: -1}
		if req.Retention > 0 {
			e.expireMs = now.Add(req.Retention).UnixMilli()
		}
		recs = append(recs, kv{
			key:   journalKey{group: g.id, isOffset: true, topic: o.Topic, partition: o.Partition}.encode(),
			value: encodeOffsetValue(e),
		})
		entries, values = append(entries, o), append(values, e)
	}
	if len(recs) == 0 {
		c.mu.Unlock()
		return errs, nil
	}
	done := make(chan error, 1)
	g.pendingWrites++
	c.persist(recs, func(err error) {
		g.pendingWrites--
		if err == nil {
			for i, o := range entries {
				g.offsets[TopicPartition{o.Topic, o.Partition}] = values[i]
			}
		}
		done <- err
	})
	c.mu.Unlock()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("group: commit abandoned: %w", ctx.Err())
	}
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs, nil
}

// validateCommit is Kafka's check of a commit against the group: simple
// commits (generation < 0) only into an empty group; members only for
// the current generation, and not while the assignment is pending.
func (c *Coordinator) validateCommit(g *group, req CommitRequest) error {
	if g.state == StateDead {
		return ErrCoordinatorNotAvailable
	}
	if req.InstanceID != "" {
		if cur, ok := g.static[req.InstanceID]; ok && cur != req.MemberID {
			return fmt.Errorf("%w: group.instance.id %q belongs to member %s", ErrFencedInstanceID, req.InstanceID, cur)
		}
	}
	if req.Generation < 0 && g.state == StateEmpty {
		return nil
	}
	m := g.members[req.MemberID]
	if m == nil {
		return ErrUnknownMemberID
	}
	if req.Generation != g.generation {
		return fmt.Errorf("%w: generation %d, the group is at %d", ErrIllegalGeneration, req.Generation, g.generation)
	}
	if g.state == StateCompletingRebalance {
		return ErrRebalanceInProgress
	}
	// Stable or PreparingRebalance: a commit counts as a sign of life.
	c.rescheduleHeartbeat(g, m, m.sessionTimeout)
	return nil
}

// CommittedOffset is one committed offset as OffsetFetch returns it;
// Offset is -1 when none is committed.
type CommittedOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// FetchOffsets returns the group's committed offsets for parts (-1 for
// partitions without one), or all of them, sorted, when parts is nil. An
// unknown group has none.
func (c *Coordinator) FetchOffsets(groupID string, parts []TopicPartition) ([]CommittedOffset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrNotCoordinator
	}
	g := c.groups[groupID]
	if parts == nil {
		if g == nil {
			return nil, nil
		}
		keys := slices.SortedFunc(maps.Keys(g.offsets), func(a, b TopicPartition) int {
			if a.Topic != b.Topic {
				if a.Topic < b.Topic {
					return -1
				}
				return 1
			}
			return int(a.Partition) - int(b.Partition)
		})
		parts = keys
	}
	out := make([]CommittedOffset, len(parts))
	for i, tp := range parts {
		out[i] = CommittedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: -1, LeaderEpoch: -1}
		if g == nil {
			continue
		}
		if e, ok := g.offsets[tp]; ok {
			out[i].Offset, out[i].LeaderEpoch, out[i].Metadata = e.offset, e.leaderEpoch, e.metadata
		}
	}
	return out, nil
}

// DeleteGroups deletes empty groups and their offsets; one error per id.
func (c *Coordinator) DeleteGroups(ctx context.Context, ids []string) []error {
	errs := make([]error, len(ids))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		for i := range errs {
			errs[i] = ErrNotCoordinator
		}
		return errs
	}
	var waits []chan error
	var idx []int
	for i, id := range ids {
		g := c.groups[id]
		switch {
		case g == nil || g.state == StateDead:
			errs[i] = ErrGroupIDNotFound
		case g.state != StateEmpty:
			errs[i] = fmt.Errorf("%w: %d members", ErrNonEmptyGroup, len(g.members))
		default:
			done := make(chan error, 1)
			c.removeGroup(g, "deleted", func(err error) { done <- err })
			waits, idx = append(waits, done), append(idx, i)
		}
	}
	c.mu.Unlock()
	for k, w := range waits {
		select {
		case errs[idx[k]] = <-w:
		case <-ctx.Done():
			errs[idx[k]] = fmt.Errorf("group: delete abandoned: %w", ctx.Err())
		}
	}
	return errs
}

// removeGroup marks g dead, drops it from the coordinator and writes
// tombstones for its metadata and offsets. mu is held.
func (c *Coordinator) removeGroup(g *group, why string, done func(error)) {
	g.transitionTo(StateDead, c.now())
	g.removed = true
	delete(c.groups, g.id)
	c.cancel(g.joinTimer)
	c.cancel(g.syncTimer)
	for _, e := range g.pending {
		c.cancel(e)
	}
	recs := []kv{{key: journalKey{group: g.id}.encode()}}
	for tp := range g.offsets {
		recs = append(recs, kv{key: journalKey{group: g.id, isOffset: true, topic: tp.Topic, partition: tp.Partition}.encode()})
	}
	c.log.Info("group: removed", "group", g.id, "reason", why, "offsets", len(g.offsets))
	c.persist(recs, done)
}

// DeleteOffsets handles OffsetDelete: it deletes the group's offsets for
// parts, refusing those of topics the group's members consume. It returns
// one error per partition, or a group-level error.
func (c *Coordinator) DeleteOffsets(ctx context.Context, groupID string, parts []TopicPartition) ([]error, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrNotCoordinator
	}
	g := c.groups[groupID]
	if g == nil || g.state == StateDead {
		c.mu.Unlock()
		return nil, ErrGroupIDNotFound
	}
	errs := make([]error, len(parts))
	if g.protocolType != consumerProtocolType && g.state != StateEmpty {
		c.mu.Unlock()
		return nil, ErrNonEmptyGroup
	}
	var recs []kv
	var del []TopicPartition
	for i, tp := range parts {
		if g.state != StateEmpty && g.isSubscribedTo(tp.Topic) {
			errs[i] = fmt.Errorf("%w: %s", ErrGroupSubscribedToTopic, tp.Topic)
			continue
		}
		if _, ok := g.offsets[tp]; ok {
			recs = append(recs, kv{key: journalKey{group: g.id, isOffset: true, topic: tp.Topic, partition: tp.Partition}.encode()})
			del = append(del, tp)
		}
	}
	if len(recs) == 0 {
		c.mu.Unlock()
		return errs, nil
	}
	done := make(chan error, 1)
	c.persist(recs, func(err error) {
		if err == nil {
			for _, tp := range del {
				delete(g.offsets, tp)
			}
			c.maybeRemoveEmpty(g, "its last offsets were deleted")
		}
		done <- err
	})
	c.mu.Unlock()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("group: offset delete abandoned: %w", ctx.Err())
	}
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs, nil
}

// maybeRemoveEmpty removes a group that has nothing left: no members, no
// offsets, nothing on its way (Kafka's Empty → Dead). mu is held.
func (c *Coordinator) maybeRemoveEmpty(g *group, why string) {
	if g.removed || g.state != StateEmpty || len(g.offsets) > 0 || g.pendingWrites > 0 || len(g.pending) > 0 {
		return
	}
	c.removeGroup(g, why, func(err error) {
		if err != nil {
			c.log.Warn("group: could not store group removal", "group", g.id, "err", err)
		}
	})
}

// ---- expiry ----

func (c *Coordinator) scheduleExpiry() {
	c.schedule(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.expireOffsetsLocked(c.now(), nil)
		c.scheduleExpiry()
	})
}

// ExpireOffsets runs offset expiry as of now (it also runs every
// offsets.retention.check.interval.ms) and returns how many offsets it
// removed, once their removal is durable.
func (c *Coordinator) ExpireOffsets(now time.Time) int {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0
	}
	var wg sync.WaitGroup
	n := c.expireOffsetsLocked(now, &wg)
	c.mu.Unlock()
	wg.Wait()
	return n
}

// expireOffsetsLocked applies Kafka's rules (KIP-211, KIP-496):
//   - an empty group that used group management: every offset, once the
//     group has been empty for the retention time;
//   - a group that never did (simple consumers): each offset, retention
//     time after its commit;
//   - a stable consumer group: offsets of topics no member subscribes to,
//     retention time after their commit;
//   - an explicit retention (OffsetCommit v2-v4) replaces the above;
//   - offsets of deleted topics go when Config.Topics is set.
//
// A group left empty with no offsets is removed.
//
// wg, if not nil, counts the journal writes until they are applied.
func (c *Coordinator) expireOffsetsLocked(now time.Time, wg *sync.WaitGroup) int {
	nowMs := now.UnixMilli()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	total := 0
	for _, id := range c.groupIDs() {
		g := c.groups[id]
		var base func(e offsetEntry) int64
		var skip map[string]struct{}
		switch {
		case g.protocolType != "" && g.state == StateEmpty:
			since := g.stateSince.UnixMilli()
			base = func(e offsetEntry) int64 {
				if g.stateSince.IsZero() {
					return e.commitMs
				}
				return since
			}
		case g.protocolType == consumerProtocolType && g.state == StateStable && g.subscribed != nil:
			base = func(e offsetEntry) int64 { return e.commitMs }
			skip = g.subscribed
		case g.protocolType == "":
			base = func(e offsetEntry) int64 { return e.commitMs }
		}
		var recs []kv
		var gone []TopicPartition
		for tp, e := range g.offsets {
			expired := false
			switch {
			case c.cfg.Topics != nil && c.cfg.Topics.Get(tp.Topic) == nil:
				expired = true
			case base == nil:
			case e.expireMs >= 0:
				expired = nowMs >= e.expireMs
			default:
				_, subscribed := skip[tp.Topic]
				expired = !subscribed && nowMs-base(e) >= retention
			}
			if expired {
				recs = append(recs, kv{key: journalKey{group: g.id, isOffset: true, topic: tp.Topic, partition: tp.Partition}.encode()})
				gone = append(gone, tp)
			}
		}
		if len(gone) > 0 {
			total += len(gone)
			c.log.Info("group: expiring committed offsets", "group", g.id, "offsets", len(gone), "state", g.state.String())
			if wg != nil {
				wg.Add(1)
			}
			c.persist(recs, func(err error) {
				if wg != nil {
					defer wg.Done()
				}
				if err != nil {
					c.log.Warn("group: could not store offset expiry", "group", g.id, "err", err)
					return
				}
				for _, tp := range gone {
					delete(g.offsets, tp)
				}
				c.maybeRemoveEmpty(g, "its offsets expired")
			})
			continue
		}
		c.maybeRemoveEmpty(g, "empty with no offsets")
	}
	return total
}

// ---- views ----

// MemberDescription describes one member (DescribeGroups).
type MemberDescription struct {
	MemberID, InstanceID, ClientID, ClientHost string
	// Metadata and Assignment are set only for a Stable group, as Kafka
	// does.
	Metadata, Assignment []byte
}

// Description describes a group (DescribeGroups). An unknown group is
// described as Dead with no members, as Kafka does.
type Description struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string // set only when Stable
	Generation   int32
	Leader       string
	Members      []MemberDescription
}

// Describe describes a group.
func (c *Coordinator) Describe(groupID string) (Description, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Description{}, ErrNotCoordinator
	}
	d := Description{Group: groupID, State: StateDead}
	g := c.groups[groupID]
	if g == nil {
		return d, nil
	}
	d.State, d.ProtocolType, d.Generation, d.Leader = g.state, g.protocolType, g.generation, g.leader
	stable := g.state == StateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata, md.Assignment = m.metadata(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// Listing is one group as ListGroups shows it.
type Listing struct {
	Group        string
	ProtocolType string
	State        State
}

// List lists every group, sorted by id.
func (c *Coordinator) List() []Listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Listing, 0, len(c.groups))
	for _, id := range c.groupIDs() {
		g := c.groups[id]
		out = append(out, Listing{Group: id, ProtocolType: g.protocolType, State: g.state})
	}
	return out
}

// PartitionLag is one partition's consumer lag.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // -1: nothing committed
	End       int64 // the partition's high watermark; -1 if the topic is gone
	Lag       int64 // End - Committed; -1 when either is unknown
}

// Lag returns the lag of every partition the group has an offset for,
// sorted. It needs Config.Topics for the end offsets (End is -1 without).
func (c *Coordinator) Lag(groupID string) ([]PartitionLag, error) {
	offs, err := c.FetchOffsets(groupID, nil)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionLag, 0, len(offs))
	for _, o := range offs {
		pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.Offset, End: -1, Lag: -1}
		if c.cfg.Topics != nil {
			if t := c.cfg.Topics.Get(o.Topic); t != nil {
				if l := t.Partition(o.Partition); l != nil {
					pl.End = l.HighWatermark()
				}
			}
		}
		if pl.End >= 0 && pl.Committed >= 0 {
			pl.Lag = max(pl.End-pl.Committed, 0)
		}
		out = append(out, pl)
	}
	return out, nil
}
