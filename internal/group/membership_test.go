package group

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Two members: join, sync, a rebalance when the second joins, a leave.
func TestJoinSyncRebalanceLeave(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	const g = "g"
	a := joinFull(t, c, joinReq(g, "", 5*time.Second, "t"))
	if a.Generation != 1 || a.Leader != a.MemberID || len(a.Members) != 1 || a.Protocol != "range" || a.ProtocolType != "consumer" {
		t.Fatalf("first join: %+v", a)
	}
	if st := state(t, c, g); st != StateCompletingRebalance {
		t.Fatalf("state %v, want CompletingRebalance", st)
	}
	// A member heartbeating before its sync is fine.
	if err := c.Heartbeat(g, a.MemberID, "", 1); err != nil {
		t.Fatalf("heartbeat while completing: %v", err)
	}
	s := await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 1, Assignments: map[string][]byte{a.MemberID: []byte("all")}}), "sync")
	if s.err != nil || string(s.res.Assignment) != "all" || s.res.Protocol != "range" {
		t.Fatalf("sync: %+v %v", s.res, s.err)
	}
	if st := state(t, c, g); st != StateStable {
		t.Fatalf("state %v, want Stable", st)
	}

	// B arrives: A learns of the rebalance through its heartbeat.
	breq := joinReq(g, "", 5*time.Second, "t")
	breq.RequireKnownMemberID = true
	res, err := c.Join(context.Background(), breq)
	if !errors.Is(err, ErrMemberIDRequired) {
		t.Fatalf("B first join: %v", err)
	}
	if st := state(t, c, g); st != StateStable {
		t.Fatalf("a pending member must not start a rebalance; state %v", st)
	}
	breq.MemberID = res.MemberID
	bch := joinAsync(c, breq)
	eventually(t, "rebalance", func() bool { return state(t, c, g) == StatePreparingRebalance })
	if err := c.Heartbeat(g, a.MemberID, "", 1); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("A heartbeat during rebalance: %v", err)
	}
	// Commits are still accepted while preparing the rebalance.
	if errs, err := c.CommitOffsets(context.Background(), CommitRequest{Group: g, MemberID: a.MemberID, Generation: 1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5}}}); err != nil || errs[0] != nil {
		t.Fatalf("commit while preparing: %v %v", err, errs)
	}
	ach := joinAsync(c, joinReq(g, a.MemberID, 5*time.Second, "t"))
	a2, b2 := await(t, ach, "A rejoin"), await(t, bch, "B join")
	if a2.err != nil || b2.err != nil {
		t.Fatalf("rejoin: %v / %v", a2.err, b2.err)
	}
	if a2.res.Generation != 2 || b2.res.Generation != 2 || a2.res.Leader != a.MemberID || b2.res.Leader != a.MemberID {
		t.Fatalf("generation 2: %+v / %+v", a2.res, b2.res)
	}
	if len(a2.res.Members) != 2 || len(b2.res.Members) != 0 {
		t.Fatalf("only the leader gets the members: %d / %d", len(a2.res.Members), len(b2.res.Members))
	}
	// The follower syncs first and waits for the leader.
	bs := syncAsync(c, SyncRequest{Group: g, MemberID: b2.res.MemberID, Generation: 2})
	time.Sleep(20 * time.Millisecond)
	select {
	case s := <-bs:
		t.Fatalf("follower sync answered before the leader's: %+v", s)
	default:
	}
	as := await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 2,
		Assignments: map[string][]byte{a.MemberID: []byte("A"), b2.res.MemberID: []byte("B")}}), "leader sync")
	bsr := await(t, bs, "follower sync")
	if string(as.res.Assignment) != "A" || string(bsr.res.Assignment) != "B" {
		t.Fatalf("assignments %q %q", as.res.Assignment, bsr.res.Assignment)
	}
	d, _ := c.Describe(g)
	if d.State != StateStable || len(d.Members) != 2 || d.Protocol != "range" || string(d.Members[1].Assignment) != "B" {
		t.Fatalf("describe: %+v", d)
	}
	// Stale generation.
	if err := c.Heartbeat(g, a.MemberID, "", 1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale heartbeat: %v", err)
	}

	// B leaves: A must rejoin alone.
	errs, err := c.Leave(g, []LeaveMember{{MemberID: b2.res.MemberID}})
	if err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", err, errs)
	}
	if err := c.Heartbeat(g, a.MemberID, "", 2); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat after leave: %v", err)
	}
	a3 := await(t, joinAsync(c, joinReq(g, a.MemberID, 5*time.Second, "t")), "rejoin alone")
	if a3.err != nil || a3.res.Generation != 3 || len(a3.res.Members) != 1 {
		t.Fatalf("after leave: %+v %v", a3.res, a3.err)
	}
	if errs, _ := c.Leave(g, []LeaveMember{{MemberID: "nobody"}}); !errors.Is(errs[0], ErrUnknownMemberID) {
		t.Fatalf("unknown member leave: %v", errs[0])
	}
	if _, err := c.Leave("nogroup", []LeaveMember{{MemberID: "x"}}); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("leave unknown group: %v", err)
	}
}

func TestJoinValidation(t *testing.T) {
	t.Parallel()
	c := open(t, "", func(c *Config) { c.MinSessionTimeout = 100 * time.Millisecond; c.MaxSessionTimeout = time.Second })
	ctx := context.Background()
	if _, err := c.Join(ctx, joinReq("", "", 500*time.Millisecond)); !errors.Is(err, ErrInvalidGroupID) {
		t.Fatalf("empty group: %v", err)
	}
	for _, d := range []time.Duration{50 * time.Millisecond, 2 * time.Second} {
		if _, err := c.Join(ctx, joinReq("g", "", d)); !errors.Is(err, ErrInvalidSessionTimeout) {
			t.Fatalf("session %v: %v", d, err)
		}
	}
	if _, err := c.Join(ctx, joinReq("g", "ghost", 500*time.Millisecond)); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("known member id into a new group: %v", err)
	}
	bad := joinReq("g", "", 500*time.Millisecond)
	bad.Protocols = nil
	if _, err := c.Join(ctx, bad); !errors.Is(err, ErrInconsistentGroupProtocol) {
		t.Fatalf("no protocols: %v", err)
	}
	if n := len(c.List()); n != 0 {
		t.Fatalf("refused joins left %d groups behind", n)
	}
	a := joinFull(t, c, joinReq("g", "", 500*time.Millisecond))
	other := joinReq("g", "", 500*time.Millisecond)
	other.ProtocolType = "connect"
	if _, err := c.Join(ctx, other); !errors.Is(err, ErrInconsistentGroupProtocol) {
		t.Fatalf("other protocol type: %v", err)
	}
	other = joinReq("g", "", 500*time.Millisecond)
	other.Protocols = []Protocol{{Name: "roundrobin"}}
	if _, err := c.Join(ctx, other); !errors.Is(err, ErrInconsistentGroupProtocol) {
		t.Fatalf("no common protocol: %v", err)
	}
	// Protocol selection: both support range and sticky, both prefer
	// sticky.
	c2 := open(t, "")
	mk := func() JoinRequest {
		r := joinReq("p", "", time.Second)
		r.Protocols = []Protocol{{Name: "sticky"}, {Name: "range"}}
		return r
	}
	p1 := joinFull(t, c2, mk())
	if p1.Protocol != "sticky" {
		t.Fatalf("selected %q", p1.Protocol)
	}
	_ = a
}

// A member that stops heartbeating is removed after its session timeout
// and the rest rebalance without it.
func TestSessionTimeoutRemovesMember(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	const g = "g"
	// A heartbeats with a generous session; B, with a short one, goes
	// silent.
	a := joinFull(t, c, joinReq(g, "", 3*time.Second, "t"))
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: a.Generation}), "sync")
	_, b2 := newcomerJoins(t, c, joinReq(g, "", 500*time.Millisecond, "t"), joinReq(g, a.MemberID, 3*time.Second, "t"))
	bsync := syncAsync(c, SyncRequest{Group: g, MemberID: b2.res.MemberID, Generation: 2})
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 2}), "A sync")
	await(t, bsync, "B sync")
	h := startHeartbeats(c, g, a.MemberID, 2, 50*time.Millisecond)
	start := time.Now()
	eventually(t, "B's expiry", func() bool { return errors.Is(h.Last(), ErrRebalanceInProgress) })
	h.Stop()
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("B expired after %v, before its 500ms session timeout", d)
	}
	a3 := await(t, joinAsync(c, joinReq(g, a.MemberID, 3*time.Second, "t")), "A alone")
	if a3.err != nil || a3.res.Generation != 3 || len(a3.res.Members) != 1 {
		t.Fatalf("%+v %v", a3.res, a3.err)
	}
	if err := c.Heartbeat(g, b2.res.MemberID, "", 2); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("expired member's heartbeat: %v", err)
	}
}

// A rebalance waits at most the rebalance timeout for members to rejoin;
// those that do not are removed.
func TestRebalanceTimeoutRemovesLaggard(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	const g = "g"
	req := func(id string) JoinRequest {
		r := joinReq(g, id, 5*time.Second, "t")
		r.RebalanceTimeout = 300 * time.Millisecond
		return r
	}
	a := joinFull(t, c, req(""))
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 1}), "sync")
	a2, b2 := newcomerJoins(t, c, req(""), req(a.MemberID))
	bsync := syncAsync(c, SyncRequest{Group: g, MemberID: b2.res.MemberID, Generation: 2})
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 2}), "A sync")
	await(t, bsync, "B sync")
	_ = a2
	// The leader rejoins (a rebalance); B heartbeats (session 5s) but
	// never rejoins.
	start := time.Now()
	a3 := await(t, joinAsync(c, req(a.MemberID)), "leader rejoin")
	if a3.err != nil || a3.res.Generation != 3 || len(a3.res.Members) != 1 {
		t.Fatalf("%+v %v", a3.res, a3.err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("join completed after %v, before the 300ms rebalance timeout", d)
	}
	// Pending sync: a member that joins but never syncs is removed too.
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 3}), "A sync gen 3")
	a4, c4 := newcomerJoins(t, c, req(""), req(a.MemberID))
	if a4.res.Generation != 4 || c4.res.Generation != 4 {
		t.Fatalf("%+v %+v", a4.res, c4.res)
	}
	await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.MemberID, Generation: 4}), "A sync gen 4")
	eventually(t, "C's removal for not syncing", func() bool {
		d, _ := c.Describe(g)
		return d.State == StatePreparingRebalance && len(d.Members) == 1
	})
}

// A restarted static member takes its place back without a rebalance.
func TestStaticMemberRejoin(t *testing.T) {
	t.Parallel()
	for _, v9 := range []bool{false, true} {
		c := open(t, "")
		const g = "g"
		sreq := joinReq(g, "", 5*time.Second, "t")
		sreq.InstanceID = "inst-a"
		sreq.RequireKnownMemberID = true // static members skip MEMBER_ID_REQUIRED
		sreq.SupportsSkipAssignment = v9
		a := await(t, joinAsync(c, sreq), "static join")
		if a.err != nil {
			t.Fatal(a.err)
		}
		await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.res.MemberID, InstanceID: "inst-a", Generation: 1,
			Assignments: map[string][]byte{a.res.MemberID: []byte("A")}}), "sync")
		_, b2 := newcomerJoins(t, c, joinReq(g, "", 5*time.Second, "t"), func() JoinRequest { r := sreq; r.MemberID = a.res.MemberID; return r }())
		bs := syncAsync(c, SyncRequest{Group: g, MemberID: b2.res.MemberID, Generation: 2})
		await(t, syncAsync(c, SyncRequest{Group: g, MemberID: a.res.MemberID, InstanceID: "inst-a", Generation: 2,
			Assignments: map[string][]byte{a.res.MemberID: []byte("A2"), b2.res.MemberID: []byte("B2")}}), "A sync")
		await(t, bs, "B sync")

		// A restarts: a new JoinGroup without member id, same instance id.
		r := await(t, joinAsync(c, sreq), "static rejoin")
		if r.err != nil || r.res.MemberID == a.res.MemberID || r.res.Generation != 2 {
			t.Fatalf("static rejoin: %+v %v", r.res, r.err)
		}
		if v9 {
			if r.res.Leader != r.res.MemberID || !r.res.SkipAssignment || len(r.res.Members) != 2 {
				t.Fatalf("v9 leader rejoin: %+v", r.res)
			}
		} else if r.res.Leader != a.res.MemberID || r.res.SkipAssignment || len(r.res.Members) != 0 {
			t.Fatalf("pre-v9 leader rejoin must name the old leader id: %+v", r.res)
		}
		if st := state(t, c, g); st != StateStable {
			t.Fatalf("state %v after static rejoin, want Stable (no rebalance)", st)
		}
		if err := c.Heartbeat(g, b2.res.MemberID, "", 2); err != nil {
			t.Fatalf("B's heartbeat after A's restart: %v", err)
		}
		s := await(t, syncAsync(c, SyncRequest{Group: g, MemberID: r.res.MemberID, InstanceID: "inst-a", Generation: 2}), "A sync after restart")
		if s.err != nil || string(s.res.Assignment) != "A2" {
			t.Fatalf("assignment after restart: %q %v", s.res.Assignment, s.err)
		}
		// The old incarnation is fenced.
		if err := c.Heartbeat(g, a.res.MemberID, "inst-a", 2); !errors.Is(err, ErrFencedInstanceID) {
			t.Fatalf("old incarnation heartbeat: %v", err)
		}
		if _, err := c.CommitOffsets(context.Background(), CommitRequest{Group: g, MemberID: a.res.MemberID, InstanceID: "inst-a", Generation: 2}); !errors.Is(err, ErrFencedInstanceID) {
			t.Fatalf("old incarnation commit: %v", err)
		}
		// Admin removal by instance id.
		errs, err := c.Leave(g, []LeaveMember{{InstanceID: "inst-a"}})
		if err != nil || errs[0] != nil {
			t.Fatalf("remove static member: %v %v", err, errs)
		}
		if st := state(t, c, g); st != StatePreparingRebalance {
			t.Fatalf("state after removing the static member: %v", st)
		}
	}
}

// MEMBER_ID_REQUIRED ids expire if the member does not come back.
func TestPendingMemberExpires(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	req := joinReq("g", "", 100*time.Millisecond, "t")
	req.RequireKnownMemberID = true
	res, err := c.Join(context.Background(), req)
	if !errors.Is(err, ErrMemberIDRequired) {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	req.MemberID = res.MemberID
	if _, err := c.Join(context.Background(), req); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("join with an expired pending id: %v", err)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	t.Parallel()
	c := open(t, "", func(c *Config) { c.InitialRebalanceDelay = 500 * time.Millisecond })
	start := time.Now()
	a := joinAsync(c, joinReq("g", "", time.Second, "t"))
	time.Sleep(100 * time.Millisecond)
	b := joinAsync(c, joinReq("g", "", time.Second, "t"))
	ra, rb := await(t, a, "A"), await(t, b, "B")
	if ra.err != nil || rb.err != nil || ra.res.Generation != 1 || rb.res.Generation != 1 {
		t.Fatalf("%+v %v / %+v %v", ra.res, ra.err, rb.res, rb.err)
	}
	// The second arrival extended the delay by another 500ms, up to the
	// 1s rebalance timeout.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("initial rebalance completed after %v", d)
	}
}

func TestCloseAnswersWaiters(t *testing.T) {
	t.Parallel()
	c, err := Open(Config{MinSessionTimeout: 10 * time.Millisecond, InitialRebalanceDelay: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ch := joinAsync(c, joinReq("g", "", time.Second, "t"))
	eventually(t, "join parked", func() bool { return state(t, c, "g") == StatePreparingRebalance })
	c.Close()
	if a := await(t, ch, "join"); !errors.Is(a.err, ErrNotCoordinator) {
		t.Fatalf("join after close: %v", a.err)
	}
	if err := c.Heartbeat("g", "x", "", 1); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("heartbeat after close: %v", err)
	}
}

// newcomerJoins makes a new member join a stable group and, once the
// group is rebalancing, the existing member rejoin; it returns both
// answers (existing, newcomer), failing on errors.
func newcomerJoins(t *testing.T, c *Coordinator, newcomer, existing JoinRequest) (joinAnswer, joinAnswer) {
	t.Helper()
	nch := joinAsync(c, newcomer)
	eventually(t, "rebalance", func() bool { return state(t, c, newcomer.Group) == StatePreparingRebalance })
	e, n := await(t, joinAsync(c, existing), "existing member"), await(t, nch, "newcomer")
	if e.err != nil || n.err != nil {
		t.Fatalf("joins: %v / %v", e.err, n.err)
	}
	return e, n
}
