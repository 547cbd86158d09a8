package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
)

// sendMany sends n numbered messages from several goroutines (so that
// they share fsyncs) in batches of 10.
func sendMany(t *testing.T, q *Queue, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	per := (n + 79) / 80 * 10
	for w := 0; w*per < n; w++ {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			for i := lo; i < min(lo+per, n); i += 10 {
				var in []SendInput
				for k := i; k < min(i+10, lo+per, n); k++ {
					in = append(in, SendInput{Body: fmt.Sprintf("m%06d", k)})
				}
				if _, err := q.Send(context.Background(), in); err != nil {
					errc <- err
					return
				}
			}
		}(w * per)
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// drain receives everything visible (visibility 60 s) and returns it by body.
func drain(t *testing.T, q *Queue) map[string]Message {
	t.Helper()
	out := map[string]Message{}
	for {
		msgs := recv(t, q, 10, ptr(60))
		if len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			if _, dup := out[m.Body]; dup {
				t.Fatalf("%s received twice in one drain", m.Body)
			}
			out[m.Body] = m
		}
	}
}

// copyTree copies a directory: the files as they are now, like the disk
// after a power cut (everything acknowledged was fsynced).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsEverything runs a workload with out-of-order deletes,
// receive counts, visibility changes and in-flight leases, then checks the
// state after a clean restart and after a "power cut" (a copy of the files
// taken while the queue was open, so the journal is replayed).
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"clean", "crash-image", "crash-image-checkpointing"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, true)
			q := e.create("r", map[string]string{AttrVisibilityTimeout: "60"})
			if mode == "crash-image-checkpointing" {
				// Checkpoint every few records: snapshots and journal
				// generations interleave with the workload.
				q.mu.Lock()
				q.checkpointLocked()
				q.mu.Unlock()
			}
			const n = 3000
			sendMany(t, q, n)
			got := drain(t, q)
			if len(got) != n {
				t.Fatalf("received %d of %d", len(got), n)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			deleted := map[string]bool{}
			var handles []string
			for body, m := range got {
				if rng.IntN(3) != 0 { // delete two thirds, in random order
					deleted[body] = true
					handles = append(handles, m.ReceiptHandle)
				}
			}
			for i := 0; i < len(handles); i += 10 {
				for _, err := range q.DeleteBatch(handles[i:min(i+10, len(handles))]) {
					if err != nil {
						t.Fatal(err)
					}
				}
				if mode == "crash-image-checkpointing" && i%500 == 0 {
					q.mu.Lock()
					q.checkpointLocked()
					q.mu.Unlock()
				}
			}
			// Some of the rest: a second receive (count 2), a longer lease.
			e.clk.Advance(61 * time.Second)
			again := drain(t, q)
			if len(again) != n-len(deleted) {
				t.Fatalf("redelivered %d, want %d", len(again), n-len(deleted))
			}
			var longLease Message
			for _, m := range again {
				if m.ReceiveCount != 2 {
					t.Fatalf("receive count %d", m.ReceiveCount)
				}
				longLease = m
			}
			if err := q.ChangeVisibility(longLease.ReceiptHandle, 600); err != nil {
				t.Fatal(err)
			}
			if mode == "clean" {
				e.reopen()
			} else {
				img := t.TempDir()
				copyTree(t, e.dir, img)
				e.close()
				e.dir = img
				e.open()
			}
			q = e.q("r")
			s := q.Stats()
			if s.InFlight != int64(n-len(deleted)) || s.Visible != 0 {
				t.Fatalf("stats after restart %+v, want %d in flight", s, n-len(deleted))
			}
			// The lease of the long one survives: its handle still works
			// for changes, and it stays invisible until its new time.
			e.clk.Advance(61 * time.Second)
			back := drain(t, q)
			if len(back) != n-len(deleted)-1 {
				t.Fatalf("back %d, want %d", len(back), n-len(deleted)-1)
			}
			for body, m := range back {
				if deleted[body] {
					t.Fatalf("deleted message %s came back", body)
				}
				if m.ReceiveCount != 3 {
					t.Fatalf("%s: receive count %d, want 3", body, m.ReceiveCount)
				}
			}
			if _, ok := back[longLease.Body]; ok {
				t.Fatal("extended lease lost")
			}
			if err := q.Delete(longLease.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
			if s := q.Stats(); s.InFlight != int64(len(back)) {
				t.Fatalf("after deleting the long lease %+v", s)
			}
		})
	}
}

func TestJournalTornTailAndCorruptSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("t", nil)
	sendBodies(t, q, "a", "b")
	m := recv(t, q, 1, nil)[0]
	img := t.TempDir()
	copyTree(t, e.dir, img)
	jp := filepath.Join(img, "queues", "t", journalName)
	f, err := os.OpenFile(jp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 40, 1, 2, 3, 4, 5}) // a torn frame
	f.Close()
	e.close()
	e.dir = img
	e.open()
	q = e.q("t")
	if s := q.Stats(); s.InFlight != 1 || s.Visible != 1 {
		t.Fatalf("after torn tail %+v", s)
	}
	mustDelete(t, q, m.ReceiptHandle)
	e.close()
	sp := filepath.Join(img, "queues", "t", snapshotName)
	b, _ := os.ReadFile(sp)
	b[20] ^= 0xff
	os.WriteFile(sp, b, 0o644)
	meta, err := metastore.Open(filepath.Join(img, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	_, err = Open(Config{DataDir: img, Meta: meta, Logger: quietLogger()})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
}

func TestConsumedSegmentsReclaimed(t *testing.T) {
	old := segmentBytes
	segmentBytes = 64 << 10
	t.Cleanup(func() { segmentBytes = old })
	e := newEnv(t, true)
	q := e.create("reclaim", nil)
	body := string(make([]byte, 0))
	for range 1000 {
		body += "x"
	}
	for range 50 {
		sendBodies(t, q, body, body, body, body, body, body, body, body, body, body)
	}
	before := q.log.Size()
	for {
		msgs := recv(t, q, 10, nil)
		if len(msgs) == 0 {
			break
		}
		var hs []string
		for _, m := range msgs {
			hs = append(hs, m.ReceiptHandle)
		}
		q.DeleteBatch(hs)
	}
	q.housekeep()
	if after := q.log.Size(); after > before/4 || q.log.StartOffset() != 500 {
		t.Fatalf("log size %d -> %d, start %d", before, after, q.log.StartOffset())
	}
}

func TestMissingSnapshotKeepsMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("nosnap", nil)
	sendBodies(t, q, "a", "b")
	e.close()
	os.Remove(filepath.Join(e.dir, "queues", "nosnap", snapshotName))
	e.open()
	if got := drain(t, e.q("nosnap")); len(got) != 2 {
		t.Fatalf("got %d messages after losing the snapshot", len(got))
	}
}

// TestReplayPurgeAndCopy replays purge and copy records from the journal
// (a "power cut" image, so no checkpoint folds them in first).
func TestReplayPurgeAndCopy(t *testing.T) {
	old := copyForwardLag
	copyForwardLag = 5
	t.Cleanup(func() { copyForwardLag = old })
	e := newEnv(t, true)
	p := e.create("p", nil)
	sendBodies(t, p, "gone1", "gone2")
	if err := p.Purge(); err != nil {
		t.Fatal(err)
	}
	sendBodies(t, p, "kept")
	c := e.create("c", nil)
	sendBodies(t, c, "stuck")
	recv(t, c, 1, ptr(1))
	for range 10 {
		sendBodies(t, c, "filler")
	}
	e.clk.Advance(2 * time.Second)
	msgs := recv(t, c, 1, ptr(3600)) // "stuck" is copied forward
	if len(msgs) != 1 || msgs[0].Body != "stuck" || msgs[0].ReceiveCount != 2 {
		t.Fatalf("%+v", msgs)
	}
	img := t.TempDir()
	copyTree(t, e.dir, img)
	e.close()
	e.dir = img
	e.open()
	if got := drain(t, e.q("p")); len(got) != 1 || got["kept"].Body != "kept" {
		t.Fatalf("purged queue after replay: %v", got)
	}
	c = e.q("c")
	if s := c.Stats(); s.InFlight != 1 || s.Visible != 10 {
		t.Fatalf("copied queue after replay: %+v", s)
	}
	mustDelete(t, c, msgs[0].ReceiptHandle)
	if s := c.Stats(); s.InFlight != 0 {
		t.Fatalf("lease of the copy lost: %+v", s)
	}
}

// TestJournalWriteFailureFailsQueue: when the journal cannot be written,
// the queue refuses further work instead of acknowledging what the disk
// does not hold.
func TestJournalWriteFailureFailsQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	q := e.create("fail", nil)
	sendBodies(t, q, "a", "b")
	m := recv(t, q, 1, nil)[0]
	q.j.mu.Lock()
	q.j.f.Close() // every later write fails
	q.j.mu.Unlock()
	if err := q.Delete(m.ReceiptHandle); !errors.Is(err, ErrStorage) {
		t.Fatalf("delete with a broken journal: %v", err)
	}
	if _, err := q.Receive(context.Background(), ReceiveInput{WaitTime: noWait}); !errors.Is(err, ErrStorage) {
		t.Fatalf("receive on a failed queue: %v", err)
	}
	if _, err := q.Send(context.Background(), []SendInput{{Body: "c"}}); !errors.Is(err, ErrStorage) {
		t.Fatalf("send on a failed queue: %v", err)
	}
	e.m.Close() // must not hang or panic
	e.m = nil
	e.meta.Close()
}
