package metastore

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func mustOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, payload := range [][]byte{nil, []byte("{}"), []byte(strings.Repeat("x", 10000))} {
		b := encodeFrame(kindTopics, payload)
		got, err := decodeFrame(kindTopics, b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if string(got) != string(payload) {
			t.Fatalf("payload changed")
		}
		if _, err := decodeFrame(kindCluster, b); err == nil {
			t.Fatal("kind mismatch not detected")
		}
	}
}

func TestClusterIDStable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "meta")
	s := mustOpen(t, dir)
	id := s.ClusterID()
	if len(id) != 22 || strings.HasPrefix(id, "-") {
		t.Fatalf("cluster ID %q: want 22 chars of base64url not starting with '-'", id)
	}
	if _, err := DecodeID(id); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := mustOpen(t, dir)
	if s2.ClusterID() != id {
		t.Fatalf("cluster ID changed across reopen: %q -> %q", id, s2.ClusterID())
	}
	other := mustOpen(t, filepath.Join(t.TempDir(), "meta"))
	if other.ClusterID() == id {
		t.Fatal("two stores share a cluster ID")
	}
}

func TestTopicsPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir)
	id1, _ := NewTopicID()
	id2, _ := NewTopicID()
	recs := []TopicRecord{
		{Name: "orders", ID: id1, Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}, CreatedMs: 1700000000000},
		{Name: "audit", ID: id2, Partitions: 1, CreatedMs: 1700000000001},
	}
	for _, r := range recs {
		if err := s.PutTopic(r); err != nil {
			t.Fatal(err)
		}
	}
	// Topics returns copies: mutating one must not change the store.
	s.Topics()[1].Configs["retention.ms"] = "5"
	// Replace one record.
	recs[0].Partitions = 5
	if err := s.PutTopic(recs[0]); err != nil {
		t.Fatal(err)
	}
	want := []TopicRecord{recs[1], recs[0]} // sorted by name
	if got := s.Topics(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Topics() = %+v, want %+v", got, want)
	}
	s.Close()
	if err := s.PutTopic(recs[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutTopic after Close: %v, want ErrClosed", err)
	}

	s2 := mustOpen(t, dir)
	if got := s2.Topics(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen Topics() = %+v, want %+v", got, want)
	}
	if err := s2.DeleteTopic("audit"); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteTopic("audit"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second delete: %v, want ErrUnknownTopic", err)
	}
	s2.Close()
	s3 := mustOpen(t, dir)
	if got := s3.Topics(); !reflect.DeepEqual(got, []TopicRecord{recs[0]}) {
		t.Fatalf("after delete+reopen Topics() = %+v", got)
	}
}

func TestPutTopicRejectsBadRecords(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir())
	for _, r := range []TopicRecord{{Name: "", Partitions: 1}, {Name: "a", Partitions: 0}} {
		if err := s.PutTopic(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutTopic(%+v) = %v, want ErrInvalid", r, err)
		}
	}
}

func TestProducerIDsNeverReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seen := map[int64]bool{}
	take := func(s *Store, n int64) {
		t.Helper()
		first, err := s.AllocateProducerIDs(n)
		if err != nil {
			t.Fatal(err)
		}
		for id := first; id < first+n; id++ {
			if seen[id] {
				t.Fatalf("producer ID %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	s := mustOpen(t, dir)
	take(s, 1)
	take(s, 1)
	take(s, 2500) // larger than a block
	take(s, 3)
	s.Close()
	// Reopen several times (a crash is the same as a reopen here: the
	// reservation was durable before the IDs were handed out).
	for range 3 {
		s = mustOpen(t, dir)
		take(s, 1)
		take(s, 999)
		take(s, 1)
		s.Close()
	}
	if _, err := mustOpen(t, dir).AllocateProducerIDs(0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("allocate 0: %v, want ErrInvalid", err)
	}
}

func TestProducerIDsConcurrent(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir())
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 300 {
				id, err := s.AllocateProducerIDs(1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate producer ID %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestTornTempFileIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir)
	id, _ := NewTopicID()
	if err := s.PutTopic(TopicRecord{Name: "t", ID: id, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash during the next write leaves a half-written temp file.
	full := encodeFrame(kindTopics, []byte(`{"topics":[]}`))
	tmp := filepath.Join(dir, topicsFile+tmpSuffix)
	if err := os.WriteFile(tmp, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpen(t, dir)
	if got := s2.Topics(); len(got) != 1 || got[0].Name != "t" {
		t.Fatalf("Topics() = %+v, want the committed catalog", got)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file not removed: %v", err)
	}
}

// TestCorruptFiles damages a committed file in a table of ways; Open must
// fail with a *CorruptError naming that file, never silently start empty.
func TestCorruptFiles(t *testing.T) {
	t.Parallel()
	damages := []struct {
		name string
		fn   func(b []byte) []byte
	}{
		{"truncated to 0", func(b []byte) []byte { return b[:0] }},
		{"truncated header", func(b []byte) []byte { return b[:7] }},
		{"truncated payload", func(b []byte) []byte { return b[:len(b)-6] }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"future version", func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 99); return b }},
		{"wrong kind", func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], uint16(kindProducerIDs)); return b }},
		{"huge length", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 1<<31); return b }},
		{"flipped payload bit", func(b []byte) []byte { b[headerSize+3] ^= 0x10; return b }},
		{"flipped checksum bit", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"trailing garbage", func(b []byte) []byte { return append(b, 0) }},
		{"valid frame, bad JSON", func([]byte) []byte { return encodeFrame(kindTopics, []byte("{not json")) }},
		{"valid frame, bad topic ID", func([]byte) []byte {
			return encodeFrame(kindTopics, []byte(`{"topics":[{"name":"a","id":"short","partitions":1}]}`))
		}},
		{"valid frame, duplicate topic", func([]byte) []byte {
			r := `{"name":"a","id":"AAAAAAAAAAAAAAAAAAAAAQ","partitions":1}`
			return encodeFrame(kindTopics, []byte(`{"topics":[`+r+`,`+r+`]}`))
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir)
			id, _ := NewTopicID()
			if err := s.PutTopic(TopicRecord{Name: "orders", ID: id, Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			path := filepath.Join(dir, topicsFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, d.fn(b), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want *CorruptError", err)
			}
			if ce.Path != path || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %s", err, path)
			}
		})
	}
}

func TestCorruptClusterAndProducerFiles(t *testing.T) {
	t.Parallel()
	for _, name := range []string{clusterFile, producerIDsFile} {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		if _, err := s.AllocateProducerIDs(1); err != nil {
			t.Fatal(err)
		}
		s.Close()
		path := filepath.Join(dir, name)
		b, _ := os.ReadFile(path)
		b[len(b)-2] ^= 0xff
		os.WriteFile(path, b, 0o644)
		if _, err := Open(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: Open = %v, want corrupt error naming the file", name, err)
		}
	}
}

func TestOpenOnFile(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Open(f); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}

func TestIDEncoding(t *testing.T) {
	t.Parallel()
	for range 200 {
		id, err := NewTopicID()
		if err != nil {
			t.Fatal(err)
		}
		s := EncodeID(id)
		if s[0] == '-' || id == ([16]byte{}) {
			t.Fatalf("bad ID %q", s)
		}
		back, err := DecodeID(s)
		if err != nil || back != id {
			t.Fatalf("DecodeID(%q) = %v, %v", s, back, err)
		}
	}
	for _, bad := range []string{"", "abc", "!!!!!!!!!!!!!!!!!!!!!!", "AAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := DecodeID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeID(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzDecodeFrame: arbitrary file contents are rejected or accepted
// without panicking, and whatever is accepted re-encodes to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(encodeFrame(kindTopics, []byte(`{"topics":[]}`)))
	f.Add(encodeFrame(kindTopics, nil))
	f.Add([]byte("SLMS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, err := decodeFrame(kindTopics, b)
		if err != nil {
			return
		}
		if got := encodeFrame(kindTopics, payload); string(got) != string(b) {
			t.Fatalf("accepted frame does not round-trip")
		}
	})
}
