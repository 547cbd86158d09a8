// Package group is Sluice's Kafka group coordinator: the classic consumer
// group protocol (membership, generations, eager and cooperative
// rebalances driven by client-side assignors, static members, session and
// rebalance timeouts) and committed offsets, durable in an append-only
// journal (journal.go) and expired as Kafka expires them (KIP-211).
//
// The package speaks in domain terms (JoinRequest, ErrIllegalGeneration …);
// internal/kafka decodes the wire requests and turns errors into Kafka
// error codes. The behaviour follows Apache Kafka's classic group
// coordinator state machine: see membership.go for the states and
// transitions and offsets.go for commits and expiry.
//
// # Concurrency
//
// Coordinator.mu guards every group. Requests hold it only while they
// change state; a JoinGroup or SyncGroup that must wait for other members
// releases it and waits on a channel (or its context). Two goroutines are
// owned by the Coordinator and stop on Close: the timer goroutine, which
// runs heartbeat expiry, rebalance and sync timeouts, the initial
// rebalance delay and offset expiry, each with mu held; and the journal
// writer (journal.go), which takes mu to run the callbacks of what it
// wrote. Lock order: Coordinator.mu, then journal.qmu.
package group

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/topic"
)

// Coordinator coordinates every group of one broker. All methods are safe
// for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	j   *journal // nil in memory-only mode

	mu     sync.Mutex
	closed bool
	groups map[string]*group
	timers timerHeap

	timerWake chan struct{} // capacity 1
	stop      chan struct{}
	wg        sync.WaitGroup
}

// Open returns a coordinator for cfg. With cfg.Dir set it opens (creating
// if missing) the offsets journal there and restores the groups and
// offsets it holds; members restored with a Stable group are expected to
// heartbeat within their session timeout, as after a Kafka coordinator
// failover.
func Open(cfg Config) (*Coordinator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:       cfg,
		log:       cfg.Logger,
		groups:    make(map[string]*group),
		timerWake: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if cfg.Dir != "" {
		j, err := openJournal(cfg.Dir, cfg, c.runDone)
		if err != nil {
			return nil, err
		}
		if err := c.restore(j.live); err != nil {
			j.log.Close()
			return nil, err
		}
		c.j = j
		j.start()
		c.log.Info("group: opened offsets journal", "dir", cfg.Dir, "groups", len(c.groups), "records", j.sinceStart)
	}
	c.mu.Lock()
	c.scheduleExpiry()
	c.mu.Unlock()
	c.wg.Add(1)
	go c.runTimers()
	return c, nil
}

// Close answers every waiting JoinGroup and SyncGroup with
// ErrNotCoordinator, stops the timers, writes what is queued to the journal
// and closes it. Idempotent.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			g.completeJoin(m, JoinResult{MemberID: m.id}, ErrNotCoordinator)
			g.completeSync(m, SyncResult{}, ErrNotCoordinator)
		}
	}
	c.timers = nil
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
	if c.j != nil {
		return c.j.close()
	}
	return nil
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// ---- persistence ----

// persist writes recs as one journal batch and runs done (with mu held)
// once they are durable or have failed. In memory-only mode done runs at
// once. mu is held by the caller.
func (c *Coordinator) persist(recs []kv, done func(err error)) {
	if c.j == nil || len(recs) == 0 {
		done(nil)
		return
	}
	c.j.enqueue(&persistReq{recs: recs, done: done})
}

// runDone is the journal writer's hook: it runs the callbacks of written
// requests, in log order, under mu.
func (c *Coordinator) runDone(reqs []*persistReq, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range reqs {
		r.done(err)
	}
}

// restore rebuilds groups and offsets from the journal's live records.
func (c *Coordinator) restore(live map[string][]byte) error {
	now := c.now()
	get := func(id string) *group {
		g := c.groups[id]
		if g == nil {
			g = newGroup(id, time.Time{})
			c.groups[id] = g
		}
		return g
	}
	for k, v := range live {
		key, err := decodeKey([]byte(k))
		if err != nil {
			return &JournalError{Dir: c.cfg.Dir, Offset: -1, Reason: err.Error()}
		}
		g := get(key.group)
		if key.isOffset {
			o, err := decodeOffsetValue(v)
			if err != nil {
				return &JournalError{Dir: c.cfg.Dir, Offset: -1, Reason: err.Error()}
			}
			g.offsets[TopicPartition{key.topic, key.partition}] = o
			continue
		}
		gv, err := decodeGroupValue(v)
		if err != nil {
			return &JournalError{Dir: c.cfg.Dir, Offset: -1, Reason: err.Error()}
		}
		c.restoreGroup(g, gv, now)
	}
	return nil
}

func (c *Coordinator) restoreGroup(g *group, v *kmsg.GroupMetadataValue, now time.Time) {
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			protocolType:     v.ProtocolType,
			protocols:        []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			assignment:       vm.Assignment,
		}
		if vm.RebalanceTimeoutMillis < 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		if vm.InstanceID != nil {
			m.instanceID = *vm.InstanceID
		}
		g.add(m)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state, g.prevState = StateStable, StateStable
		for _, m := range g.members {
			c.rescheduleHeartbeat(g, m, m.sessionTimeout)
		}
	}
	g.subscribed = g.computeSubscribed()
	_ = now
}

// ---- timers ----

// timerEntry is one scheduled callback; index is its heap position (-1
// when not scheduled).
type timerEntry struct {
	at    time.Time
	fn    func()
	index int
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// schedule runs fn (with mu held) after d of real time (timeouts follow
// the monotonic clock, not Config.Now). mu is held by the caller.
// After Close it schedules nothing and returns nil.
func (c *Coordinator) schedule(d time.Duration, fn func()) *timerEntry {
	if c.closed {
		return nil
	}
	e := &timerEntry{at: time.Now().Add(d), fn: fn}
	heap.Push(&c.timers, e)
	if e.index == 0 {
		select {
		case c.timerWake <- struct{}{}:
		default:
		}
	}
	return e
}

// cancel unschedules e (nil is fine). mu is held.
func (c *Coordinator) cancel(e *timerEntry) {
	if e != nil && e.index >= 0 && e.index < len(c.timers) && c.timers[e.index] == e {
		heap.Remove(&c.timers, e.index)
	}
}

// runTimers is the timer goroutine: it runs due callbacks under mu.
func (c *Coordinator) runTimers() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		now := time.Now()
		for len(c.timers) > 0 && !c.timers[0].at.After(now) && !c.closed {
			e := heap.Pop(&c.timers).(*timerEntry)
			e.fn()
		}
		wait := time.Hour
		if len(c.timers) > 0 {
			wait = max(c.timers[0].at.Sub(now), time.Millisecond)
		}
		c.mu.Unlock()
		t.Reset(wait)
		select {
		case <-t.C:
		case <-c.timerWake:
		case <-c.stop:
			return
		}
	}
}

// ---- public API types ----

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group      string
	MemberID   string // "" on a member's first join
	InstanceID string // group.instance.id; "" for a dynamic member
	ClientID   string
	ClientHost string // as Kafka shows it: "/127.0.0.1"
	// SessionTimeout is session.timeout.ms; RebalanceTimeout is
	// rebalance.timeout.ms (max.poll.interval.ms for Java consumers;
	// JoinGroup v0 has none: pass the session timeout).
	SessionTimeout, RebalanceTimeout time.Duration
	ProtocolType                     string
	Protocols                        []Protocol
	// RequireKnownMemberID: JoinGroup v4+, where a dynamic member's first
	// join is answered MEMBER_ID_REQUIRED with its member id (KIP-394).
	RequireKnownMemberID bool
	// SupportsSkipAssignment: JoinGroup v9+ (KIP-814).
	SupportsSkipAssignment bool
	Reason                 string
}

// JoinedMember is one member as the leader sees it.
type JoinedMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResult is a JoinGroup response. MemberID is set with
// ErrMemberIDRequired too.
type JoinResult struct {
	MemberID       string
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	SkipAssignment bool
	Members        []JoinedMember // the leader's only
}

// SyncRequest is a SyncGroup request.
type SyncRequest struct {
	Group      string
	MemberID   string
	InstanceID string
	Generation int32
	// ProtocolType and Protocol (SyncGroup v5+) must match the group's
	// when given.
	ProtocolType, Protocol *string
	// Assignments is the leader's assignment by member id.
	Assignments map[string][]byte
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	ProtocolType, Protocol string
	Assignment             []byte
}

// LeaveMember is one member leaving (LeaveGroup v3+ may name several,
// and may name a static member by instance id alone).
type LeaveMember struct {
	MemberID, InstanceID, Reason string
}

// waitJoin waits for a JoinGroup's outcome.
func waitJoin(ctx context.Context, ch chan joinOutcome, memberID string) (JoinResult, error) {
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return JoinResult{MemberID: memberID}, fmt.Errorf("group: join abandoned: %w", ctx.Err())
	}
}

func waitSync(ctx context.Context, ch chan syncOutcome) (SyncResult, error) {
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return SyncResult{}, fmt.Errorf("group: sync abandoned: %w", ctx.Err())
	}
}

// groupIDs returns the ids of live groups, sorted (tests, listing).
func (c *Coordinator) groupIDs() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// NewMemory returns a memory-only coordinator with Kafka's default
// settings (Config{Topics: topics, Logger: logger}): what a Kafka server
// embedded without a data directory uses.
func NewMemory(topics *topic.Registry, logger *slog.Logger) *Coordinator {
	c, err := Open(Config{Topics: topics, Logger: logger})
	if err != nil {
		panic("group: default config refused: " + err.Error()) // defaults always validate
	}
	return c
}
