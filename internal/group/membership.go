package group

// Membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers
// that go with them, following Kafka's classic group state machine:
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	                  ▲        │ (no members left: Empty)          │ leader's SyncGroup
//	                  │        ▼                                   ▼
//	                  └──── member joins, leaves, changes, ◀── Stable
//	                        expires; leader rejoins
//
//   - A rebalance waits for every known member to send JoinGroup, at most
//     the longest rebalance timeout of the members; dynamic members that do
//     not rejoin in time are removed. The first rebalance of an empty group
//     waits group.initial.rebalance.delay.ms first (extended while members
//     keep arriving).
//   - The join completes with a new generation and the selected protocol;
//     the leader gets every member's metadata and assigns on the client
//     side; its SyncGroup carries the assignment, which is made durable and
//     then handed to every member (Stable). Members that do not send
//     SyncGroup within the rebalance timeout are removed (a new rebalance).
//   - A member whose heartbeats stop for its session timeout is removed,
//     unless it is waiting in a JoinGroup or SyncGroup (then the rebalance
//     timeout bounds it); a member that never completed a join is removed
//     after Config.NewMemberJoinTimeout.
//   - Static members (group.instance.id) keep their place across restarts:
//     a JoinGroup without member id for a known instance id takes over the
//     old member (fencing its requests with FENCED_INSTANCE_ID) and, in a
//     Stable group whose protocol it does not change, gets the current
//     generation and its old assignment back without a rebalance.
//
// Everything here runs with Coordinator.mu held, except the waits in Join
// and Sync.

import (
	"context"
	"fmt"
	"time"
)

// Join handles a JoinGroup request. It returns when the member's join
// completes (or fails), which may take a rebalance; ctx abandons the wait
// (the member stays until its timeouts remove it, as in Kafka).
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) (JoinResult, error) {
	if req.Group == "" {
		return JoinResult{MemberID: req.MemberID}, ErrInvalidGroupID
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return JoinResult{MemberID: req.MemberID}, fmt.Errorf("%w: %v is outside group.min.session.timeout.ms %v and group.max.session.timeout.ms %v",
			ErrInvalidSessionTimeout, req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout)
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return JoinResult{MemberID: req.MemberID}, ErrNotCoordinator
	}
	g := c.groups[req.Group]
	created := false
	if g == nil {
		if req.MemberID != "" {
			c.mu.Unlock()
			return JoinResult{MemberID: req.MemberID}, ErrUnknownMemberID
		}
		g = newGroup(req.Group, c.now())
		c.groups[req.Group] = g
		created = true
	}
	var (
		res  JoinResult
		wait chan joinOutcome
		err  error
	)
	switch {
	case !c.acceptJoiningMember(g, req.MemberID):
		res, err = JoinResult{}, fmt.Errorf("%w: group.max.size is %d", ErrGroupMaxSizeReached, c.cfg.MaxGroupSize)
	case req.MemberID == "":
		res, wait, err = c.joinNewMember(g, req)
	default:
		res, wait, err = c.joinExistingMember(g, req)
	}
	if created && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.pendingWrites == 0 {
		delete(c.groups, g.id) // refused before it held anything
		g.removed = true
	}
	c.mu.Unlock()
	if wait == nil {
		return res, err
	}
	return waitJoin(ctx, wait, res.MemberID)
}

func (c *Coordinator) acceptJoiningMember(g *group, memberID string) bool {
	switch g.state {
	case StatePreparingRebalance:
		m := g.members[memberID]
		return m != nil && m.join != nil || g.awaitingJoin < c.cfg.MaxGroupSize
	case StateCompletingRebalance, StateStable:
		return g.members[memberID] != nil || len(g.members) < c.cfg.MaxGroupSize
	}
	return true
}

func (c *Coordinator) joinNewMember(g *group, req JoinRequest) (JoinResult, chan joinOutcome, error) {
	if g.state == StateDead {
		return JoinResult{}, nil, ErrCoordinatorNotAvailable
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return JoinResult{}, nil, ErrInconsistentGroupProtocol
	}
	prefix := req.ClientID
	if req.InstanceID != "" {
		prefix = req.InstanceID
	}
	id := newMemberID(prefix)
	if req.InstanceID != "" {
		if old, ok := g.static[req.InstanceID]; ok {
			c.log.Info("group: static member rejoins with a new member id", "group", g.id, "instance_id", req.InstanceID, "old_member", old, "member", id, "state", g.state.String())
			return c.updateStaticMember(g, old, id, req)
		}
		return c.addMemberAndRebalance(g, id, req)
	}
	if req.RequireKnownMemberID {
		// KIP-394: hand out the id and expect the member back with it
		// within its session timeout.
		var e *timerEntry
		e = c.schedule(req.SessionTimeout, func() { c.expirePending(g, id, e) })
		g.pending[id] = e
		return JoinResult{MemberID: id}, nil, ErrMemberIDRequired
	}
	return c.addMemberAndRebalance(g, id, req)
}

func (c *Coordinator) joinExistingMember(g *group, req JoinRequest) (JoinResult, chan joinOutcome, error) {
	if g.state == StateDead {
		return JoinResult{MemberID: req.MemberID}, nil, ErrCoordinatorNotAvailable
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return JoinResult{MemberID: req.MemberID}, nil, ErrInconsistentGroupProtocol
	}
	if e, ok := g.pending[req.MemberID]; ok {
		c.cancel(e)
		delete(g.pending, req.MemberID)
		return c.addMemberAndRebalance(g, req.MemberID, req)
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return JoinResult{MemberID: req.MemberID}, nil, err
	}
	m := g.members[req.MemberID]
	current := func(withMembers bool) JoinResult {
		r := JoinResult{MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader}
		if withMembers {
			r.Members = g.currentMembers()
		}
		return r
	}
	switch g.state {
	case StatePreparingRebalance:
		return c.updateMemberAndRebalance(g, m, req, "member joins during rebalance")
	case StateCompletingRebalance:
		if m.matches(req.Protocols) {
			// It lost its JoinGroup response: the same answer again.
			return current(g.leader == m.id), nil, nil
		}
		return c.updateMemberAndRebalance(g, m, req, "member changed its metadata")
	case StateStable:
		if g.leader == m.id {
			// A leader's JoinGroup asks for a rebalance (topic metadata
			// changes its assignor has seen).
			return c.updateMemberAndRebalance(g, m, req, "leader rejoins")
		}
		if !m.matches(req.Protocols) {
			return c.updateMemberAndRebalance(g, m, req, "member changed its metadata")
		}
		return current(false), nil, nil
	}
	return JoinResult{MemberID: req.MemberID}, nil, ErrUnknownMemberID
}

func (c *Coordinator) addMemberAndRebalance(g *group, id string, req JoinRequest) (JoinResult, chan joinOutcome, error) {
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		protocolType: req.ProtocolType, protocols: req.Protocols,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		join:  make(chan joinOutcome, 1),
		isNew: true,
	}
	if g.state == StatePreparingRebalance && g.prevState == StateEmpty {
		g.newMemberAdded = true
	}
	g.add(m)
	wait := m.join
	// A member waiting in its first join cannot heartbeat, and its
	// disconnect goes unnoticed; bound its wait instead.
	c.rescheduleHeartbeat(g, m, c.cfg.NewMemberJoinTimeout)
	c.log.Debug("group: member joins", "group", g.id, "member", id, "instance_id", req.InstanceID, "client_id", req.ClientID, "reason", req.Reason)
	c.maybePrepareRebalanceOrCompleteJoin(g, "adding member "+id)
	return JoinResult{MemberID: id}, wait, nil
}

func (c *Coordinator) updateMemberAndRebalance(g *group, m *member, req JoinRequest, reason string) (JoinResult, chan joinOutcome, error) {
	wait := make(chan joinOutcome, 1)
	g.updateMember(m, req.Protocols, req.RebalanceTimeout, req.SessionTimeout, wait)
	c.maybePrepareRebalanceOrCompleteJoin(g, reason+" ("+m.id+")")
	return JoinResult{MemberID: m.id}, wait, nil
}

// updateStaticMember lets a restarted static member take over its
// instance id under a new member id.
func (c *Coordinator) updateStaticMember(g *group, oldID, newID string, req JoinRequest) (JoinResult, chan joinOutcome, error) {
	currentLeader := g.leader
	m := g.replaceStaticMember(req.InstanceID, oldID, newID)
	c.rescheduleHeartbeat(g, m, m.sessionTimeout)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeout, m.sessionTimeout
	wait := make(chan joinOutcome, 1)
	g.updateMember(m, req.Protocols, req.RebalanceTimeout, req.SessionTimeout, wait)
	m.clientID, m.clientHost = req.ClientID, req.ClientHost

	switch g.state {
	case StateStable:
		if g.protocol != g.selectProtocol() {
			c.maybePrepareRebalanceOrCompleteJoin(g, "static member "+newID+" changes the group's protocol")
			break
		}
		// No rebalance: record the new member id durably, then give the
		// member the current generation; its SyncGroup returns its
		// assignment. Before v9 the old leader id is returned so that a
		// restarted leader does not compute an assignment nobody uses.
		gen := g.generation
		c.persist([]kv{g.metadataRecord(nil)}, func(err error) {
			if err != nil {
				if g.members[newID] == m {
					g.updateMember(m, oldProtocols, oldRebalance, oldSession, nil)
					g.replaceStaticMember(req.InstanceID, newID, oldID)
					c.rescheduleHeartbeat(g, m, m.sessionTimeout)
				}
				select {
				case wait <- joinOutcome{res: JoinResult{}, err: err}:
				default:
				}
				return
			}
			res := JoinResult{MemberID: newID, Generation: gen, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: currentLeader}
			if req.SupportsSkipAssignment {
				res.Leader = g.leader
				if g.leader == newID {
					res.SkipAssignment = true
					res.Members = g.currentMembers()
				}
			}
			if m.join == wait {
				g.completeJoin(m, res, nil)
			}
		})
		c.log.Info("group: static member rejoined a stable group without a rebalance", "group", g.id, "instance_id", req.InstanceID, "member", newID)
		return JoinResult{MemberID: newID}, wait, nil
	case StateCompletingRebalance:
		// The leader may already have assigned to the old member id.
		c.prepareRebalance(g, "static member "+newID+" rejoins while the group completes a rebalance")
	case StatePreparingRebalance:
	default:
		return JoinResult{MemberID: newID}, nil, ErrUnknownMemberID
	}
	c.maybeCompleteJoinPhase(g)
	return JoinResult{MemberID: newID}, wait, nil
}

// ---- rebalancing ----

func (c *Coordinator) maybePrepareRebalanceOrCompleteJoin(g *group, reason string) {
	if g.canRebalance() {
		c.prepareRebalance(g, reason)
	} else {
		c.maybeCompleteJoinPhase(g)
	}
}

// maybeCompleteJoinPhase completes the join phase when everyone has
// joined, except in the initial rebalance, which only its delay ends.
func (c *Coordinator) maybeCompleteJoinPhase(g *group) {
	if g.state == StatePreparingRebalance && g.hasAllMembersJoined() && g.prevState != StateEmpty {
		c.completeJoinPhase(g)
	}
}

func (c *Coordinator) prepareRebalance(g *group, reason string) {
	if g.state == StateCompletingRebalance {
		c.resetAndPropagateAssignment(g, ErrRebalanceInProgress)
	}
	c.removeSyncExpiration(g)
	initial := g.state == StateEmpty
	if initial {
		delay := c.cfg.InitialRebalanceDelay
		remaining := max(g.rebalanceTimeout()-delay, 0)
		c.scheduleInitialRebalance(g, delay, remaining)
	}
	g.transitionTo(StatePreparingRebalance, c.now())
	c.log.Info("group: preparing to rebalance", "group", g.id, "generation", g.generation, "members", len(g.members), "reason", reason)
	if !initial {
		c.maybeCompleteJoinElseSchedule(g)
	}
}

func (c *Coordinator) scheduleInitialRebalance(g *group, delay, remaining time.Duration) {
	c.cancel(g.joinTimer)
	var e *timerEntry
	e = c.schedule(delay, func() {
		if g.joinTimer != e || g.removed {
			return
		}
		g.joinTimer = nil
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			c.scheduleInitialRebalance(g, min(c.cfg.InitialRebalanceDelay, remaining), max(remaining-delay, 0))
			return
		}
		c.completeJoinPhase(g)
	})
	g.joinTimer = e
}

func (c *Coordinator) maybeCompleteJoinElseSchedule(g *group) {
	if g.hasAllMembersJoined() {
		c.completeJoinPhase(g)
		return
	}
	c.scheduleJoinTimeout(g)
}

func (c *Coordinator) scheduleJoinTimeout(g *group) {
	c.cancel(g.joinTimer)
	var e *timerEntry
	e = c.schedule(g.rebalanceTimeout(), func() {
		if g.joinTimer != e || g.removed {
			return
		}
		g.joinTimer = nil
		c.completeJoinPhase(g)
	})
	g.joinTimer = e
}

// completeJoinPhase ends the join phase: members that did not rejoin are
// removed (static ones keep their place), the next generation starts and
// every member gets its JoinGroup response.
func (c *Coordinator) completeJoinPhase(g *group) {
	if g.state != StatePreparingRebalance {
		return
	}
	c.cancel(g.joinTimer)
	g.joinTimer = nil
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m.join == nil && m.instanceID == "" {
			c.log.Info("group: removing member that did not rejoin in time", "group", g.id, "member", id)
			c.cancel(m.hb)
			g.remove(m)
			g.completeSync(m, SyncResult{}, ErrUnknownMemberID)
		}
	}
	if !c.maybeElectNewJoinedLeader(g) && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait for
		// them (or for their session timeouts).
		c.log.Warn("group: could not complete rebalance because no members rejoined", "group", g.id)
		c.scheduleJoinTimeout(g)
		return
	}
	c.initNextGeneration(g)
	if g.state == StateEmpty {
		c.log.Info("group: now empty", "group", g.id, "generation", g.generation)
		c.persist([]kv{g.metadataRecord(nil)}, func(err error) {
			if err != nil {
				c.log.Warn("group: could not store empty group", "group", g.id, "err", err)
			}
		})
		return
	}
	c.log.Info("group: stabilized generation", "group", g.id, "generation", g.generation, "protocol", g.protocol, "members", len(g.members), "leader", g.leader)
	for _, id := range g.order {
		m := g.members[id]
		res := JoinResult{MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader}
		if id == g.leader {
			res.Members = g.currentMembers()
		}
		g.completeJoin(m, res, nil)
		c.rescheduleHeartbeat(g, m, m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = struct{}{}
	}
	c.schedulePendingSync(g)
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, else picks a
// member that did; false when none did.
func (c *Coordinator) maybeElectNewJoinedLeader(g *group) bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, id := range g.order {
		if g.members[id].join != nil {
			g.leader = id
			return true
		}
	}
	return false
}

func (c *Coordinator) initNextGeneration(g *group) {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.transitionTo(StateCompletingRebalance, c.now())
	} else {
		g.protocol = ""
		g.transitionTo(StateEmpty, c.now())
	}
	g.subscribed = g.computeSubscribed()
	clear(g.pendingSync)
}

func (c *Coordinator) schedulePendingSync(g *group) {
	c.cancel(g.syncTimer)
	gen := g.generation
	var e *timerEntry
	e = c.schedule(g.rebalanceTimeout(), func() {
		if g.syncTimer != e || g.removed {
			return
		}
		g.syncTimer = nil
		c.expirePendingSync(g, gen)
	})
	g.syncTimer = e
}

func (c *Coordinator) removeSyncExpiration(g *group) {
	clear(g.pendingSync)
	c.cancel(g.syncTimer)
	g.syncTimer = nil
}

func (c *Coordinator) removePendingSyncMember(g *group, id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 || g.state != StateCompletingRebalance && g.state != StateStable {
		c.cancel(g.syncTimer)
		g.syncTimer = nil
	}
}

// expirePendingSync removes the members that sent no SyncGroup within the
// rebalance timeout and rebalances the others.
func (c *Coordinator) expirePendingSync(g *group, gen int32) {
	if gen != g.generation || g.state != StateCompletingRebalance && g.state != StateStable || len(g.pendingSync) == 0 {
		return
	}
	var gone []string
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			c.cancel(m.hb)
			g.remove(m)
			g.completeJoin(m, JoinResult{}, ErrUnknownMemberID)
			gone = append(gone, id)
		}
	}
	clear(g.pendingSync)
	c.prepareRebalance(g, fmt.Sprintf("members %v sent no SyncGroup within the rebalance timeout", gone))
}

func (c *Coordinator) resetAndPropagateAssignment(g *group, err error) {
	for _, m := range g.members {
		m.assignment = nil
	}
	c.propagateAssignment(g, err)
}

func (c *Coordinator) propagateAssignment(g *group, err error) {
	var res SyncResult
	if err == nil {
		res.ProtocolType, res.Protocol = g.protocolType, g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		r := res
		r.Assignment = m.assignment
		if g.completeSync(m, r, err) {
			// Its session may have "expired" while it waited; start
			// afresh now that it has its answer.
			c.rescheduleHeartbeat(g, m, m.sessionTimeout)
		}
	}
}

// ---- heartbeats and member expiry ----

func (c *Coordinator) rescheduleHeartbeat(g *group, m *member, d time.Duration) {
	c.cancel(m.hb)
	var e *timerEntry
	e = c.schedule(d, func() {
		if m.hb != e {
			return
		}
		m.hb = nil
		c.expireHeartbeat(g, m)
	})
	m.hb = e
}

func (c *Coordinator) expireHeartbeat(g *group, m *member) {
	if g.removed || g.state == StateDead || g.members[m.id] != m {
		return
	}
	if !m.isNew && (m.join != nil || m.sync != nil) {
		return // waiting in a rebalance: the rebalance timeout bounds it
	}
	c.log.Info("group: member failed to heartbeat within its session timeout; removing it", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
	c.removeMemberAndUpdateGroup(g, m, "session timeout of "+m.id)
}

func (c *Coordinator) removeMemberAndUpdateGroup(g *group, m *member, reason string) {
	g.completeJoin(m, JoinResult{}, ErrUnknownMemberID)
	g.completeSync(m, SyncResult{}, ErrUnknownMemberID)
	c.cancel(m.hb)
	m.hb = nil
	g.remove(m)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.maybePrepareRebalanceOrCompleteJoin(g, reason)
	case StatePreparingRebalance:
		if g.hasAllMembersJoined() {
			c.completeJoinPhase(g)
		}
	}
}

func (c *Coordinator) expirePending(g *group, id string, e *timerEntry) {
	if g.pending[id] != e || g.removed {
		return
	}
	delete(g.pending, id)
	c.log.Debug("group: pending member did not rejoin within its session timeout", "group", g.id, "member", id)
	if g.state == StatePreparingRebalance && g.hasAllMembersJoined() {
		c.completeJoinPhase(g)
	}
}

// ---- SyncGroup, Heartbeat, LeaveGroup ----

// Sync handles a SyncGroup request. A follower's returns once the leader
// has sent the assignment and it is durable; ctx abandons the wait.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) (SyncResult, error) {
	if req.Group == "" {
		return SyncResult{}, ErrInvalidGroupID
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return SyncResult{}, ErrNotCoordinator
	}
	wait, res, err := c.syncLocked(req)
	c.mu.Unlock()
	if wait == nil {
		return res, err
	}
	return waitSync(ctx, wait)
}

func (c *Coordinator) syncLocked(req SyncRequest) (chan syncOutcome, SyncResult, error) {
	g := c.groups[req.Group]
	if g == nil {
		return nil, SyncResult{}, ErrUnknownMemberID
	}
	if g.state == StateDead {
		return nil, SyncResult{}, ErrCoordinatorNotAvailable
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return nil, SyncResult{}, err
	}
	if req.Generation != g.generation {
		return nil, SyncResult{}, fmt.Errorf("%w: generation %d, the group is at %d", ErrIllegalGeneration, req.Generation, g.generation)
	}
	if req.ProtocolType != nil && g.protocolType != "" && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && g.protocol != "" && *req.Protocol != g.protocol {
		return nil, SyncResult{}, ErrInconsistentGroupProtocol
	}
	m := g.members[req.MemberID]
	switch g.state {
	case StateEmpty:
		return nil, SyncResult{}, ErrUnknownMemberID
	case StatePreparingRebalance:
		return nil, SyncResult{}, ErrRebalanceInProgress
	case StateStable:
		c.removePendingSyncMember(g, m.id)
		return nil, SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}, nil
	}
	// CompletingRebalance.
	if m.sync != nil {
		g.completeSync(m, SyncResult{}, ErrRebalanceInProgress) // superseded
	}
	wait := make(chan syncOutcome, 1)
	m.sync = wait
	c.removePendingSyncMember(g, m.id)
	if g.leader != m.id {
		return wait, SyncResult{}, nil
	}
	assignment := make(map[string][]byte, len(g.members))
	for id := range g.members {
		assignment[id] = req.Assignments[id] // missing: empty
	}
	gen := g.generation
	c.persist([]kv{g.metadataRecord(assignment)}, func(err error) {
		if g.removed || g.state != StateCompletingRebalance || g.generation != gen {
			return // another rebalance has begun; its answers are on their way
		}
		if err != nil {
			c.resetAndPropagateAssignment(g, err)
			c.maybePrepareRebalanceOrCompleteJoin(g, "could not store the assignment: "+err.Error())
			return
		}
		for id, m := range g.members {
			m.assignment = assignment[id]
		}
		c.propagateAssignment(g, nil)
		g.transitionTo(StateStable, c.now())
		c.log.Debug("group: stable", "group", g.id, "generation", g.generation)
	})
	return wait, SyncResult{}, nil
}

// Heartbeat handles a Heartbeat request: nil while the member may keep
// consuming, ErrRebalanceInProgress when it must rejoin.
func (c *Coordinator) Heartbeat(groupID, memberID, instanceID string, generation int32) error {
	if groupID == "" {
		return ErrInvalidGroupID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrNotCoordinator
	}
	g := c.groups[groupID]
	if g == nil {
		return ErrUnknownMemberID
	}
	if g.state == StateDead {
		return ErrCoordinatorNotAvailable
	}
	if err := g.validateMember(memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return fmt.Errorf("%w: generation %d, the group is at %d", ErrIllegalGeneration, generation, g.generation)
	}
	m := g.members[memberID]
	switch g.state {
	case StateEmpty:
		return ErrUnknownMemberID
	case StatePreparingRebalance:
		c.rescheduleHeartbeat(g, m, m.sessionTimeout)
		return ErrRebalanceInProgress
	}
	c.rescheduleHeartbeat(g, m, m.sessionTimeout)
	return nil
}

// Leave handles a LeaveGroup request: one error per member (nil: left),
// or a group-level error.
func (c *Coordinator) Leave(groupID string, members []LeaveMember) ([]error, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrNotCoordinator
	}
	g := c.groups[groupID]
	if g == nil {
		return nil, ErrUnknownMemberID
	}
	if g.state == StateDead {
		return nil, ErrCoordinatorNotAvailable
	}
	errs := make([]error, len(members))
	left := 0
	for i, lm := range members {
		switch {
		case lm.MemberID == "":
			// Administrative removal of a static member by instance id.
			id, ok := g.static[lm.InstanceID]
			if lm.InstanceID == "" || !ok {
				errs[i] = ErrUnknownMemberID
				continue
			}
			c.removeCurrentMember(g, g.members[id], lm.Reason)
		case g.pending[lm.MemberID] != nil:
			c.cancel(g.pending[lm.MemberID])
			delete(g.pending, lm.MemberID)
		default:
			if err := g.validateMember(lm.MemberID, lm.InstanceID); err != nil {
				errs[i] = err
				continue
			}
			c.removeCurrentMember(g, g.members[lm.MemberID], lm.Reason)
		}
		left++
	}
	if left > 0 {
		switch g.state {
		case StateStable, StateCompletingRebalance:
			c.maybePrepareRebalanceOrCompleteJoin(g, "members left the group")
		case StatePreparingRebalance:
			c.maybeCompleteJoinPhase(g)
		}
	}
	return errs, nil
}

func (c *Coordinator) removeCurrentMember(g *group, m *member, reason string) {
	c.log.Info("group: member left", "group", g.id, "member", m.id, "instance_id", m.instanceID, "reason", reason)
	c.cancel(m.hb)
	m.hb = nil
	g.completeJoin(m, JoinResult{}, ErrUnknownMemberID)
	g.completeSync(m, SyncResult{}, ErrUnknownMemberID)
	g.remove(m)
}
