package topic

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/internal/metastore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a data directory with its metastore and registry, reopenable.
type env struct {
	t        *testing.T
	dir      string
	defaults Defaults
	store    *metastore.Store
	reg      *Registry
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	s, err := metastore.Open(filepath.Join(e.dir, "meta"))
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := Open(e.dir, s, e.defaults, quiet)
	if err != nil {
		s.Close()
		e.t.Fatal(err)
	}
	e.store, e.reg = s, r
}

func (e *env) close() {
	if e.reg != nil {
		if err := e.reg.Close(); err != nil {
			e.t.Error(err)
		}
		e.store.Close()
		e.reg = nil
	}
}

func (e *env) reopen() { e.close(); e.open() }

func (e *env) create(name string, parts int32, cfg map[string]string) *Topic {
	e.t.Helper()
	tp, err := e.reg.Create(name, parts, cfg, false)
	if err != nil {
		e.t.Fatalf("Create(%q): %v", name, err)
	}
	return tp
}

func names(ts []*Topic) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name())
	}
	return out
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ok     bool
		reason string
	}{
		{"orders", true, ""},
		{"a", true, ""},
		{"Orders.v2_eu-west-1", true, ""},
		{"__consumer_offsets", true, ""},
		{"...", true, ""},
		{strings.Repeat("x", 249), true, ""},
		{"", false, "empty"},
		{".", false, `"."`},
		{"..", false, `".."`},
		{strings.Repeat("x", 250), false, "limit is 249"},
		{"with space", false, "' '"},
		{"slash/name", false, "'/'"},
		{"colon:name", false, "':'"},
		{"émoji", false, "position 0"},
		{"nul\x00", false, "position 3"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want ok", tt.name, err)
			}
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidTopicName) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidateName(%q) = %v, want NameError mentioning %q", tt.name, err, tt.reason)
		}
	}
}

func TestCreateListGetReopen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.create("b-topic", 3, map[string]string{"retention.ms": " 60000 "})
	e.create("a-topic", -1, nil)
	if a.NumPartitions() != 3 || a.Partition(2) == nil || a.Partition(3) != nil || a.Partition(-1) != nil {
		t.Fatalf("partitions wrong: %d", a.NumPartitions())
	}
	if !dirExists(PartitionDir(e.dir, "b-topic", 2)) {
		t.Fatal("partition dir not created")
	}
	if got := names(e.reg.List()); !slices.Equal(got, []string{"a-topic", "b-topic"}) {
		t.Fatalf("List = %v", got)
	}
	if e.reg.Get("a-topic").NumPartitions() != 1 {
		t.Fatal("partitions -1 should take the default (1)")
	}
	if e.reg.Get("nope") != nil || e.reg.GetByID(a.ID()) != a || e.reg.GetByID([16]byte{1}) != nil {
		t.Fatal("Get/GetByID wrong")
	}
	if _, err := e.reg.Create("b-topic", 1, nil, false); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := e.reg.Create("b.topic", 1, nil, false); err != nil {
		t.Fatalf("b.topic does not collide with b-topic: %v", err)
	}
	if _, err := e.reg.Create("b_topic", 1, nil, false); !errors.Is(err, ErrInvalidTopicName) || !strings.Contains(err.Error(), "collides") {
		t.Fatalf("b_topic should collide with b.topic: %v", err)
	}
	id := a.ID()
	if got := a.Overrides()["retention.ms"]; got != "60000" {
		t.Fatalf("override stored as %q, want canonical 60000", got)
	}
	if a.LogConfig().RetentionMs != 60000 || a.Partition(0).Config().RetentionMs != 60000 {
		t.Fatal("override not applied to the log config")
	}

	e.reopen()
	b := e.reg.Get("b-topic")
	if b == nil || b.ID() != id || b.NumPartitions() != 3 || b.Overrides()["retention.ms"] != "60000" {
		t.Fatalf("topic not restored: %+v", b)
	}
	if b.Partition(0).Config().RetentionMs != 60000 {
		t.Fatal("override not applied after reopen")
	}
	if got := names(e.reg.List()); !slices.Equal(got, []string{"a-topic", "b-topic", "b.topic"}) {
		t.Fatalf("List after reopen = %v", got)
	}
}

func TestCreateValidateOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tp, err := e.reg.Create("dry", 4, map[string]string{"segment.bytes": "1048576"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if tp.NumPartitions() != 4 || tp.Partition(0) != nil || e.reg.Get("dry") != nil || dirExists(PartitionDir(e.dir, "dry", 0)) {
		t.Fatal("validateOnly created something")
	}
	if _, err := e.reg.Create("dry", 0, nil, true); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("validateOnly with 0 partitions: %v", err)
	}
}

func TestCreatePartitionsValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, n := range []int32{0, -2, MaxPartitions + 1} {
		if _, err := e.reg.Create("p", n, nil, false); !errors.Is(err, ErrInvalidPartitions) {
			t.Errorf("Create with %d partitions: %v, want ErrInvalidPartitions", n, err)
		}
	}
	if _, err := e.reg.Create("bad name", 1, nil, false); !errors.Is(err, ErrInvalidTopicName) {
		t.Errorf("bad name: %v", err)
	}
}

func TestMaxTotalPartitions(t *testing.T) {
	t.Parallel()
	e := &env{t: t, dir: t.TempDir(), defaults: Defaults{MaxTotalPartitions: 5}}
	e.open()
	t.Cleanup(e.close)
	e.create("a", 3, nil)
	if _, err := e.reg.Create("b", 3, nil, false); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("over the broker limit: %v, want ErrPolicyViolation", err)
	}
	if err := e.reg.CreatePartitions("a", 6, false); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("over the broker limit: %v, want ErrPolicyViolation", err)
	}
	e.create("b", 2, nil)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.create("gone", 2, nil)
	e.create("kept", 1, nil)
	if err := e.reg.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	if e.reg.Get("gone") != nil || e.reg.GetByID(old.ID()) != nil {
		t.Fatal("deleted topic still visible")
	}
	if dirExists(PartitionDir(e.dir, "gone", 0)) || dirExists(PartitionDir(e.dir, "gone", 1)) {
		t.Fatal("partition dirs not removed")
	}
	if err := e.reg.Delete("gone"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second delete: %v", err)
	}
	// Re-create with the same name: a fresh topic (new ID).
	again := e.create("gone", 1, nil)
	if again.ID() == old.ID() {
		t.Fatal("re-created topic kept the old ID")
	}
	e.reopen()
	if got := names(e.reg.List()); !slices.Equal(got, []string{"gone", "kept"}) {
		t.Fatalf("after reopen: %v", got)
	}
	if e.reg.Get("gone").NumPartitions() != 1 {
		t.Fatal("re-created topic has the old partition count")
	}
}

func TestAddPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tp := e.create("grow", 2, map[string]string{"segment.bytes": "100000"})
	p0 := tp.Partition(0)
	for _, n := range []int32{2, 1, MaxPartitions + 1} {
		if err := e.reg.CreatePartitions("grow", n, false); !errors.Is(err, ErrInvalidPartitions) {
			t.Errorf("CreatePartitions(%d): %v, want ErrInvalidPartitions", n, err)
		}
	}
	if err := e.reg.CreatePartitions("nope", 3, false); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("unknown topic: %v", err)
	}
	if err := e.reg.CreatePartitions("grow", 4, true); err != nil || tp.NumPartitions() != 2 {
		t.Fatalf("validateOnly: %v, %d partitions", err, tp.NumPartitions())
	}
	if err := e.reg.CreatePartitions("grow", 5, false); err != nil {
		t.Fatal(err)
	}
	if tp.NumPartitions() != 5 || tp.Partition(0) != p0 || tp.Partition(4) == nil {
		t.Fatal("partitions not added in place")
	}
	if tp.Partition(4).Config().SegmentBytes != 100000 {
		t.Fatal("new partition does not have the topic's configs")
	}
	e.reopen()
	if e.reg.Get("grow").NumPartitions() != 5 {
		t.Fatal("partition count not durable")
	}
}

func TestOrphanCleanup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("live", 2, nil)
	e.close()
	// Leftovers of crashes: a topic created but never recorded, a
	// partition added but never recorded, and a half-deleted topic.
	orphans := []string{
		PartitionDir(e.dir, "never-recorded", 0),
		PartitionDir(e.dir, "live", 2),
		PartitionDir(e.dir, "half-deleted", 7),
	}
	for _, d := range orphans {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "00000000000000000000.log"), []byte("old data"), 0o644)
	}
	// Entries that are not partition dirs are left alone.
	stray := filepath.Join(TopicsDir(e.dir), "README")
	os.WriteFile(stray, []byte("x"), 0o644)
	e.open()
	for _, d := range orphans {
		if dirExists(d) {
			t.Errorf("orphan %s not removed", d)
		}
	}
	if !dirExists(PartitionDir(e.dir, "live", 1)) {
		t.Fatal("live partition removed")
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatal("stray file removed")
	}
	if e.reg.Get("live").NumPartitions() != 2 {
		t.Fatal("live topic changed")
	}
}

func TestCreateRemovesStaleDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A stale directory with the name of a topic about to be created must
	// not lend it old data.
	stale := PartitionDir(e.dir, "fresh", 0)
	os.MkdirAll(stale, 0o755)
	marker := filepath.Join(stale, "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	e.create("fresh", 1, nil)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale content survived Create")
	}
}

func TestParsePartitionDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		name string
		p    int32
		ok   bool
	}{
		{"orders-0", "orders", 0, true},
		{"a-1-12", "a-1", 12, true},
		{"a-", "", 0, false},
		{"-1", "", 0, false},
		{"a-01", "", 0, false},
		{"a-+1", "", 0, false},
		{"a-x", "", 0, false},
		{"a b-1", "", 0, false},
		{"a-99999999999", "", 0, false},
	}
	for _, tt := range tests {
		name, p, ok := parsePartitionDir(tt.in)
		if name != tt.name || p != tt.p || ok != tt.ok {
			t.Errorf("parsePartitionDir(%q) = %q, %d, %v", tt.in, name, p, ok)
		}
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("x", 1, nil)
	r := e.reg
	e.close()
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Create("y", 1, nil, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	if err := r.Delete("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Delete after Close: %v", err)
	}
}

// TestConcurrentReadersAndAdmin runs Get/List against concurrent changes;
// with -race it checks the lock-free read path.
func TestConcurrentReadersAndAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("stable", 1, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tp := e.reg.Get("stable"); tp == nil || tp.Partition(0) == nil {
					t.Error("stable topic vanished")
					return
				}
				for _, tp := range e.reg.List() {
					_ = tp.NumPartitions()
					_ = tp.Configs()
				}
			}
		})
	}
	for i := range 20 {
		name := "churn"
		e.create(name, 1, nil)
		if err := e.reg.CreatePartitions(name, 2, false); err != nil {
			t.Error(err)
		}
		if err := e.reg.AlterConfigs("stable", []ConfigOp{{Key: "retention.ms", Value: "1000" + string(rune('0'+i%10))}}, false, false); err != nil {
			t.Error(err)
		}
		if err := e.reg.Delete(name); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestRetentionLoopRunsAndStops(t *testing.T) {
	t.Parallel()
	// The loop must tick at the configured interval and stop on Close
	// (goleak in TestMain checks the latter).
	e := &env{t: t, dir: t.TempDir(), defaults: Defaults{RetentionCheckInterval: 5 * time.Millisecond}}
	e.open()
	t.Cleanup(e.close)
	e.create("r", 2, nil)
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	e.close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}
