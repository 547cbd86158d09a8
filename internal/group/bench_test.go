package group

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommitDurable: concurrent OffsetCommits (one partition each)
// from 16 goroutines per CPU, each answered after its fsync; the journal's
// group commit shares fsyncs among them (commits/fsync).
func BenchmarkCommitDurable(b *testing.B) {
	c := open(b, b.TempDir(), func(c *Config) { c.CompactRecords = 1 << 40 })
	benchCommits(b, c)
	b.ReportMetric(float64(b.N)/float64(max(c.j.appends.Load(), 1)), "commits/fsync")
}

// BenchmarkCommitMemory: the same without a journal (the coordinator's
// own cost).
func BenchmarkCommitMemory(b *testing.B) {
	benchCommits(b, open(b, ""))
}

func benchCommits(b *testing.B, c *Coordinator) {
	var id atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := fmt.Sprintf("bench-%d", id.Add(1))
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			errs, err := c.CommitOffsets(ctx, CommitRequest{Group: g, Generation: -1,
				Offsets: []OffsetCommit{{Topic: "t", Partition: int32(i % 8), Offset: int64(i), LeaderEpoch: -1}}})
			if err != nil || errs[0] != nil {
				b.Errorf("commit: %v %v", err, errs)
				return
			}
		}
	})
}

// BenchmarkHeartbeat: heartbeats of a stable member.
func BenchmarkHeartbeat(b *testing.B) {
	c := open(b, "")
	a := joinFull(b, c, joinReq("g", "", 10*time.Second, "t"))
	await(b, syncAsync(c, SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 1}), "sync")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Heartbeat("g", a.MemberID, "", 1); err != nil {
			b.Fatal(err)
		}
	}
}
