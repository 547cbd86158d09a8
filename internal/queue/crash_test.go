package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
)

const crashEnv = "SLUICE_QUEUE_CRASH_CHILD"

// runCrashChild is the child side of TestCrashSIGKILL: when the
// environment names a directory it runs a send/receive/delete workload on
// it forever, printing every acknowledged operation, and never returns
// normally (the parent kills it).
func runCrashChild() bool {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return false
	}
	meta, err := metastore.Open(filepath.Join(dir, "meta"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	m, err := Open(Config{DataDir: dir, Meta: meta, Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	q, err := m.Create("crash", map[string]string{AttrVisibilityTimeout: "30"}, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var out sync.Mutex
	emit := func(lines []string) {
		out.Lock()
		defer out.Unlock()
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines {
			w.WriteString(l)
			w.WriteByte('\n')
		}
		w.Flush()
	}
	emit([]string{"READY"})
	pid := os.Getpid()
	for s := range 3 {
		go func() {
			// Bounded, so that the parent's check stays quick.
			for n := 0; n < 4000; n += 10 {
				in := make([]SendInput, 10)
				for k := range in {
					in[k].Body = fmt.Sprintf("p%d-s%d-%d", pid, s, n+k)
				}
				res, err := q.Send(context.Background(), in)
				if err != nil {
					continue
				}
				var lines []string
				for k, r := range res {
					if r.Err == nil {
						lines = append(lines, "S "+in[k].Body)
					}
				}
				emit(lines)
			}
		}()
	}
	for r := range 2 {
		go func() {
			for i := 0; ; i++ {
				msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 10, WaitTime: ptr(100 * time.Millisecond)})
				if err != nil || len(msgs) == 0 {
					continue
				}
				var lines, hs, bodies, back []string
				for k, m := range msgs {
					lines = append(lines, fmt.Sprintf("R %s %d", m.Body, m.ReceiveCount))
					// Delete most; make the others visible again at once,
					// to come back with higher counts. (A 30 s timeout
					// keeps every handle current under load.)
					if (k+i+r)%4 != 0 {
						hs = append(hs, m.ReceiptHandle)
						bodies = append(bodies, m.Body)
					} else {
						back = append(back, m.ReceiptHandle)
					}
				}
				q.ChangeVisibilityBatch(back, make([]int, len(back)))
				// Announce the deletes first: a kill during DeleteBatch may
				// leave them done but unacknowledged, which is no loss.
				for _, b := range bodies {
					lines = append(lines, "X "+b)
				}
				emit(lines)
				errs := q.DeleteBatch(hs)
				lines = lines[:0]
				for k, err := range errs {
					if err == nil {
						lines = append(lines, "D "+bodies[k])
					}
				}
				emit(lines)
			}
		}()
	}
	select {}
}

// TestCrashSIGKILL kills a child process doing sends, receives and deletes
// under load, then checks the restarted queue: every acknowledged send
// that no one asked to delete is there, no acknowledged delete came back,
// and receive counts did not go backwards.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	t.Parallel()
	dir := t.TempDir()
	sent := map[string]bool{}
	deleted := map[string]bool{}
	requested := map[string]bool{} // delete requested, maybe not acknowledged
	counts := map[string]int{}
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var killer *time.Timer
		for line := range lines {
			f := strings.Fields(line)
			switch f[0] {
			case "READY":
				killer = time.AfterFunc(time.Duration(100+250*round)*time.Millisecond, func() {
					cmd.Process.Signal(syscall.SIGKILL)
				})
			case "ERR":
				t.Fatalf("child: %s", line)
			case "S":
				sent[f[1]] = true
			case "D":
				deleted[f[1]] = true
			case "X":
				requested[f[1]] = true
			case "R":
				c, _ := strconv.Atoi(f[2])
				counts[f[1]] = max(counts[f[1]], c)
			}
		}
		if killer != nil {
			killer.Stop()
		}
		cmd.Process.Kill() // in case it died before READY
		cmd.Wait()
	}
	if len(sent) < 100 || len(deleted) < 50 {
		t.Fatalf("workload too small: %d sent, %d deleted", len(sent), len(deleted))
	}
	// Reopen an hour later: every lease has ended.
	meta, err := metastore.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	later := func() time.Time { return time.Now().Add(time.Hour) }
	m, err := Open(Config{DataDir: dir, Meta: meta, Logger: quietLogger(), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	q := m.Get("crash")
	got := drain(t, q)
	lost := 0
	for body := range sent {
		if deleted[body] || requested[body] {
			continue
		}
		m, ok := got[body]
		if !ok {
			lost++
			t.Errorf("acknowledged message %s lost", body)
			continue
		}
		if m.ReceiveCount <= counts[body] {
			t.Errorf("%s: receive count %d after restart, had reached %d", body, m.ReceiveCount, counts[body])
		}
	}
	for body := range got {
		if deleted[body] {
			t.Errorf("acknowledged delete of %s undone", body)
		}
	}
	multi := 0
	for _, c := range counts {
		if c > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Error("no message was received more than once: the receive-count check tested nothing")
	}
	t.Logf("sent %d, deleted %d, received more than once %d, present after crash %d, lost %d", len(sent), len(deleted), multi, len(got), lost)
}
