package group

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// reopen closes c and opens a coordinator on the same directory.
func reopen(t *testing.T, c *Coordinator, adjust ...func(*Config)) *Coordinator {
	t.Helper()
	dir := c.cfg.Dir
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return open(t, dir, adjust...)
}

func TestJournalReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := open(t, dir)
	commit(t, c, CommitRequest{Group: "s", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 2, Metadata: "meta"}}})
	commit(t, c, CommitRequest{Group: "s", Generation: -1, Retention: time.Hour, Offsets: []OffsetCommit{{Topic: "t", Partition: 1, Offset: 11, LeaderEpoch: -1}}})
	commit(t, c, CommitRequest{Group: "s", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 12, LeaderEpoch: 2, Metadata: "meta2"}}})
	// A stable group with a static member.
	req := joinReq("g", "", 5*time.Second, "t")
	req.InstanceID = "i1"
	a := await(t, joinAsync(c, req), "join")
	await(t, syncAsync(c, SyncRequest{Group: "g", MemberID: a.res.MemberID, InstanceID: "i1", Generation: 1, Assignments: map[string][]byte{a.res.MemberID: []byte("asg")}}), "sync")
	commit(t, c, CommitRequest{Group: "g", MemberID: a.res.MemberID, Generation: 1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 3}}})
	// A deleted group stays deleted.
	commit(t, c, CommitRequest{Group: "del", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}})
	if errs := c.DeleteGroups(context.Background(), []string{"del"}); errs[0] != nil {
		t.Fatal(errs[0])
	}

	c = reopen(t, c)
	if o := fetchOne(t, c, "s", "t", 0); o.Offset != 12 || o.Metadata != "meta2" || o.LeaderEpoch != 2 {
		t.Fatalf("replayed %+v", o)
	}
	if o := fetchOne(t, c, "s", "t", 1); o.Offset != 11 {
		t.Fatalf("replayed %+v", o)
	}
	if o := fetchOne(t, c, "g", "t", 0); o.Offset != 3 {
		t.Fatalf("replayed %+v", o)
	}
	d, _ := c.Describe("g")
	if d.State != StateStable || d.Generation != 1 || len(d.Members) != 1 || d.Members[0].InstanceID != "i1" || string(d.Members[0].Assignment) != "asg" {
		t.Fatalf("restored group: %+v", d)
	}
	// The restored member carries on without a rebalance.
	if err := c.Heartbeat("g", a.res.MemberID, "i1", 1); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	for _, l := range c.List() {
		if l.Group == "del" {
			t.Fatal("deleted group came back")
		}
	}
}

// Concurrent commits share fsyncs and every acknowledged one is replayed.
func TestJournalConcurrentCommits(t *testing.T) {
	t.Parallel()
	c := open(t, t.TempDir())
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs, err := c.CommitOffsets(context.Background(), CommitRequest{Group: fmt.Sprintf("g%d", w), Generation: -1,
					Offsets: []OffsetCommit{{Topic: "t", Partition: int32(i % 4), Offset: int64(i)}}})
				if err != nil || errs[0] != nil {
					t.Errorf("commit: %v %v", err, errs)
					return
				}
			}
		}()
	}
	wg.Wait()
	records := c.j.log.EndOffset()
	c = reopen(t, c)
	for w := 0; w < writers; w++ {
		for p := int32(0); p < 4; p++ {
			want := int64(-1)
			for i := 0; i < each; i++ {
				if int32(i%4) == p {
					want = int64(i)
				}
			}
			if o := fetchOne(t, c, fmt.Sprintf("g%d", w), "t", p); o.Offset != want {
				t.Fatalf("g%d/%d = %d, want %d", w, p, o.Offset, want)
			}
		}
	}
	if records != writers*each {
		t.Fatalf("journal holds %d records, want %d", records, writers*each)
	}
}

func TestJournalCompaction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	adjust := func(c *Config) { c.CompactRecords = 100 }
	c := open(t, dir, adjust)
	for i := 0; i < 1000; i++ {
		commit(t, c, CommitRequest{Group: fmt.Sprintf("g%d", i%3), Generation: -1,
			Offsets: []OffsetCommit{{Topic: "t", Partition: int32(i % 5), Offset: int64(i)}}})
	}
	// Deletions are compacted away too.
	commit(t, c, CommitRequest{Group: "gone", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 1}}})
	c.DeleteGroups(context.Background(), []string{"gone"})
	for i := 0; i < 200; i++ { // trigger a compaction after the delete
		commit(t, c, CommitRequest{Group: "g0", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: int64(2000 + i)}}})
	}
	start := c.j.log.StartOffset()
	if start == 0 {
		t.Fatal("the journal was never compacted")
	}
	want := map[string]int64{}
	for _, l := range c.List() {
		offs, _ := c.FetchOffsets(l.Group, nil)
		for _, o := range offs {
			want[fmt.Sprintf("%s/%s/%d", l.Group, o.Topic, o.Partition)] = o.Offset
		}
	}
	c = reopen(t, c, adjust)
	got := map[string]int64{}
	for _, l := range c.List() {
		offs, _ := c.FetchOffsets(l.Group, nil)
		for _, o := range offs {
			got[fmt.Sprintf("%s/%s/%d", l.Group, o.Topic, o.Partition)] = o.Offset
		}
	}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) || len(got) != 15 {
		t.Fatalf("after compaction and replay:\n got %v\nwant %v", sorted(got), sorted(want))
	}
	if c.j.sinceStart > 400 {
		t.Fatalf("replayed %d records after compaction", c.j.sinceStart)
	}
}

func sorted(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// A torn write at the tail (a crash mid-append) loses only the torn batch.
func TestJournalTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := open(t, dir)
	commit(t, c, CommitRequest{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 5}}})
	c.Close()
	seg := filepath.Join(dir, fmt.Sprintf("%020d.log", 0))
	good, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"half batch", func(b []byte) []byte {
			nb := appendBatch(nil, []kv{{key: journalKey{group: "g", isOffset: true, topic: "t"}.encode(), value: encodeOffsetValue(offsetEntry{offset: 6, expireMs: -1})}}, 0)
			return append(b, nb[:len(nb)/2]...)
		}},
		{"garbage", func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5, 6, 7, 8, 9) }},
		{"flipped byte", func(b []byte) []byte {
			nb := appendBatch(nil, []kv{{key: journalKey{group: "g", isOffset: true, topic: "t"}.encode(), value: encodeOffsetValue(offsetEntry{offset: 7, expireMs: -1})}}, 0)
			nb[len(nb)-3] ^= 0xff
			return append(b, nb...)
		}},
	} {
		if err := os.WriteFile(seg, damage.fn(append([]byte(nil), good...)), 0o644); err != nil {
			t.Fatal(err)
		}
		c := open(t, dir)
		if o := fetchOne(t, c, "g", "t", 0); o.Offset != 5 {
			t.Fatalf("%s: replayed %+v", damage.name, o)
		}
		c.Close()
	}
}

// A record the journal cannot read stops Open instead of being dropped.
func TestJournalRefusesUnknownRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		key, value []byte
	}{
		{"unknown key version", []byte{0, 9, 0, 1, 'g'}, []byte{0, 3}},
		{"short key", []byte{0}, nil},
		{"bad offset value", journalKey{group: "g", isOffset: true, topic: "t"}.encode(), []byte{0, 3, 1}},
		{"unknown value version", journalKey{group: "g", isOffset: true, topic: "t"}.encode(), []byte{0, 77, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"bad group value", journalKey{group: "g"}.encode(), []byte{0, 3, 0, 8, 'c'}},
	} {
		dir := t.TempDir()
		l, err := logstore.Open(dir, logstore.Config{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(appendBatch(nil, []kv{{key: tc.key, value: tc.value}}, 0), logstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		_, err = Open(Config{Dir: dir, Logger: quietLogger()})
		var je *JournalError
		if !errors.Is(err, ErrCorruptJournal) || !errors.As(err, &je) {
			t.Fatalf("%s: Open = %v, want a *JournalError", tc.name, err)
		}
	}
}

func TestWalkBatchRoundTrip(t *testing.T) {
	t.Parallel()
	recs := []kv{{key: []byte("k1"), value: []byte("v1")}, {key: []byte("k2")}, {key: []byte("k3"), value: []byte{}}}
	b := appendBatch(nil, recs, 1234)
	if _, err := logstore.ValidateBatch(b); err != nil {
		t.Fatalf("logstore refuses the journal's batch: %v", err)
	}
	var got []kv
	n, last, err := walkBatch(b, func(off int64, k, v []byte) error {
		got = append(got, kv{k, v})
		return nil
	})
	if err != nil || n != len(b) || last != 2 || len(got) != 3 {
		t.Fatalf("walk: %d %d %v %d", n, last, err, len(got))
	}
	if string(got[0].value) != "v1" || got[1].value != nil || got[2].value == nil {
		t.Fatalf("values: %q %v %v", got[0].value, got[1].value, got[2].value)
	}
}
