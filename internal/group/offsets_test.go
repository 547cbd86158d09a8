package group

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func commit(t testing.TB, c *Coordinator, req CommitRequest) []error {
	t.Helper()
	errs, err := c.CommitOffsets(context.Background(), req)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return errs
}

func fetchOne(t testing.TB, c *Coordinator, g, topic string, p int32) CommittedOffset {
	t.Helper()
	offs, err := c.FetchOffsets(g, []TopicPartition{{topic, p}})
	if err != nil {
		t.Fatal(err)
	}
	return offs[0]
}

func TestCommitRules(t *testing.T) {
	t.Parallel()
	c := open(t, "", func(c *Config) { c.OffsetMetadataMaxBytes = 10 })
	ctx := context.Background()
	simple := func(g string, off int64) CommitRequest {
		return CommitRequest{Group: g, Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: off, LeaderEpoch: 3, Metadata: "m"}}}
	}
	// A simple consumer commit creates the group.
	if errs := commit(t, c, simple("s", 42)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if o := fetchOne(t, c, "s", "t", 0); o.Offset != 42 || o.LeaderEpoch != 3 || o.Metadata != "m" {
		t.Fatalf("fetched %+v", o)
	}
	if o := fetchOne(t, c, "s", "t", 1); o.Offset != -1 || o.LeaderEpoch != -1 {
		t.Fatalf("uncommitted partition: %+v", o)
	}
	if o := fetchOne(t, c, "nogroup", "t", 0); o.Offset != -1 {
		t.Fatalf("unknown group: %+v", o)
	}
	// A generation the coordinator never had.
	if _, err := c.CommitOffsets(ctx, CommitRequest{Group: "new", MemberID: "m", Generation: 3}); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("commit into unknown group with a generation: %v", err)
	}
	// Metadata limit, per partition.
	req := simple("s", 43)
	req.Offsets = append(req.Offsets, OffsetCommit{Topic: "t", Partition: 1, Offset: 1, Metadata: strings.Repeat("x", 11)})
	errs := commit(t, c, req)
	if errs[0] != nil || !errors.Is(errs[1], ErrOffsetMetadataTooLarge) {
		t.Fatalf("metadata limit: %v", errs)
	}

	// Members of a live group.
	a := joinFull(t, c, joinReq("g", "", 5*time.Second, "t"))
	member := func(gen int32) CommitRequest {
		return CommitRequest{Group: "g", MemberID: a.MemberID, Generation: gen, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 7}}}
	}
	if _, err := c.CommitOffsets(ctx, member(1)); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit before the assignment: %v", err)
	}
	await(t, syncAsync(c, SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 1}), "sync")
	if errs := commit(t, c, member(1)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, err := c.CommitOffsets(ctx, member(0)); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale generation: %v", err)
	}
	if _, err := c.CommitOffsets(ctx, CommitRequest{Group: "g", MemberID: "other", Generation: 1}); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := c.CommitOffsets(ctx, simple("g", 1)); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("simple commit into a group with members: %v", err)
	}
	// Once the group is empty, simple commits are fine again (an admin
	// resetting offsets).
	c.Leave("g", []LeaveMember{{MemberID: a.MemberID}})
	eventually(t, "empty", func() bool { return state(t, c, "g") == StateEmpty })
	if errs := commit(t, c, simple("g", 99)); errs[0] != nil {
		t.Fatal(errs[0])
	}
	all, _ := c.FetchOffsets("g", nil)
	if len(all) != 1 || all[0].Offset != 99 {
		t.Fatalf("all offsets: %+v", all)
	}
}

func TestDeleteGroupsAndOffsets(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	ctx := context.Background()
	commit(t, c, CommitRequest{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}, {Topic: "u", Partition: 0, Offset: 2}}})
	a := joinFull(t, c, joinReq("g", "", time.Second, "t"))
	await(t, syncAsync(c, SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 1}), "sync")

	errs := c.DeleteGroups(ctx, []string{"g", "missing"})
	if !errors.Is(errs[0], ErrNonEmptyGroup) || !errors.Is(errs[1], ErrGroupIDNotFound) {
		t.Fatalf("delete groups: %v", errs)
	}
	// The member consumes t: its offsets stay; u's can go.
	perr, err := c.DeleteOffsets(ctx, "g", []TopicPartition{{"t", 0}, {"u", 0}})
	if err != nil || !errors.Is(perr[0], ErrGroupSubscribedToTopic) || perr[1] != nil {
		t.Fatalf("delete offsets: %v %v", err, perr)
	}
	if o := fetchOne(t, c, "g", "u", 0); o.Offset != -1 {
		t.Fatalf("u's offset survived: %+v", o)
	}
	if _, err := c.DeleteOffsets(ctx, "missing", nil); !errors.Is(err, ErrGroupIDNotFound) {
		t.Fatalf("delete offsets of unknown group: %v", err)
	}
	c.Leave("g", []LeaveMember{{MemberID: a.MemberID}})
	eventually(t, "empty", func() bool { return state(t, c, "g") == StateEmpty })
	if errs := c.DeleteGroups(ctx, []string{"g"}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if st := state(t, c, "g"); st != StateDead {
		t.Fatalf("deleted group state %v", st)
	}
	if o := fetchOne(t, c, "g", "t", 0); o.Offset != -1 {
		t.Fatalf("offset survived its group: %+v", o)
	}
	if len(c.List()) != 0 {
		t.Fatalf("list after delete: %+v", c.List())
	}
	// Deleting the last offsets of an empty group removes it.
	commit(t, c, CommitRequest{Group: "h", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}})
	if perr, err := c.DeleteOffsets(ctx, "h", []TopicPartition{{"t", 0}}); err != nil || perr[0] != nil {
		t.Fatal(err, perr)
	}
	if len(c.List()) != 0 {
		t.Fatalf("group with no offsets left: %+v", c.List())
	}
}

// clock is a settable time source for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestOffsetExpiry(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	c := open(t, t.TempDir(), func(c *Config) { c.Now = clk.Now; c.OffsetsRetention = 24 * time.Hour })
	// A simple consumer's offsets expire a retention after their commit.
	commit(t, c, CommitRequest{Group: "simple", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}})
	// An explicit retention (OffsetCommit v2-v4) wins.
	commit(t, c, CommitRequest{Group: "short", Generation: -1, Retention: time.Hour, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}})
	// A group that used group management keeps its offsets while it has
	// members, and for a retention after it empties.
	a := joinFull(t, c, joinReq("managed", "", 10*time.Second, "t"))
	await(t, syncAsync(c, SyncRequest{Group: "managed", MemberID: a.MemberID, Generation: 1}), "sync")
	commit(t, c, CommitRequest{Group: "managed", MemberID: a.MemberID, Generation: 1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5}, {Topic: "gone", Partition: 0, Offset: 5}}})

	clk.Add(2 * time.Hour)
	if n := c.ExpireOffsets(clk.Now()); n != 1 {
		t.Fatalf("expired %d offsets after 2h, want 1 (the explicit 1h retention)", n)
	}
	if o := fetchOne(t, c, "short", "t", 0); o.Offset != -1 {
		t.Fatalf("explicit retention not applied: %+v", o)
	}
	if o := fetchOne(t, c, "simple", "t", 0); o.Offset != 1 {
		t.Fatalf("simple offset expired early: %+v", o)
	}
	clk.Add(23 * time.Hour)
	if n := c.ExpireOffsets(clk.Now()); n != 2 {
		t.Fatalf("expired %d offsets after 25h, want 2", n)
	}
	if o := fetchOne(t, c, "simple", "t", 0); o.Offset != -1 {
		t.Fatalf("simple offset outlived its retention: %+v", o)
	}
	if o := fetchOne(t, c, "managed", "t", 0); o.Offset != 5 {
		t.Fatalf("a subscribed topic's offset expired while the group is stable: %+v", o)
	}
	if o := fetchOne(t, c, "managed", "gone", 0); o.Offset != -1 {
		t.Fatalf("an unsubscribed topic's offset outlived its retention (KIP-496): %+v", o)
	}
	got := map[string]bool{}
	for _, l := range c.List() {
		got[l.Group] = true
	}
	if got["simple"] || got["short"] || !got["managed"] {
		t.Fatalf("groups after expiry: %v", got)
	}
	// The group empties; its offsets live a retention longer.
	c.Leave("managed", []LeaveMember{{MemberID: a.MemberID}})
	eventually(t, "empty", func() bool { return state(t, c, "managed") == StateEmpty })
	clk.Add(23 * time.Hour)
	c.ExpireOffsets(clk.Now())
	if o := fetchOne(t, c, "managed", "t", 0); o.Offset != 5 {
		t.Fatalf("offset expired before the group was empty for a retention: %+v", o)
	}
	clk.Add(2 * time.Hour)
	c.ExpireOffsets(clk.Now())
	if o := fetchOne(t, c, "managed", "t", 0); o.Offset != -1 {
		t.Fatalf("offset outlived its empty group's retention: %+v", o)
	}
	if len(c.List()) != 0 {
		t.Fatalf("groups left: %+v", c.List())
	}
}

func TestLagWithoutTopics(t *testing.T) {
	t.Parallel()
	c := open(t, "")
	commit(t, c, CommitRequest{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 1, Offset: 3}, {Topic: "t", Partition: 0, Offset: 4}}})
	lag, err := c.Lag("g")
	if err != nil || len(lag) != 2 || lag[0].Partition != 0 || lag[0].Committed != 4 || lag[0].End != -1 || lag[0].Lag != -1 {
		t.Fatalf("lag: %+v %v", lag, err)
	}
}
