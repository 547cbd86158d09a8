// Package metastore keeps the broker's small durable state: the cluster ID,
// the catalog of topics and the producer-ID allocator. Each piece lives in
// its own file under <data-dir>/meta, framed and replaced atomically as
// described in file.go. The data itself (partition logs) lives elsewhere;
// this package only says which topics exist.
//
// Payloads (JSON inside the frame of file.go):
//
//	cluster.meta       {"cluster_id": "<22 chars base64url>"}
//	topics.meta        {"topics": [{"name": "...", "id": "<22 chars base64url>",
//	                    "partitions": 3, "configs": {"retention.ms": "1000"},
//	                    "created_ms": 1700000000000}, ...]}   (sorted by name)
//	producer-ids.meta  {"next_block": 4000}
//
// Producer IDs are reserved in blocks (as Kafka's controller does): the file
// records the first ID of the next unreserved block, so an allocation only
// writes when a block runs out, and a restart skips the rest of the block it
// was in. An ID is therefore never handed out twice, even across crashes.
package metastore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// File names inside the metastore directory.
const (
	clusterFile     = "cluster.meta"
	topicsFile      = "topics.meta"
	producerIDsFile = "producer-ids.meta"
)

// ProducerIDBlock is how many producer IDs one durable write reserves.
const ProducerIDBlock = 1000

// Errors. Typed errors wrap these sentinels; test with errors.Is.
var (
	ErrClosed       = errors.New("metastore: store closed")
	ErrCorrupt      = errors.New("metastore: corrupt file")
	ErrUnknownTopic = errors.New("metastore: unknown topic")
	ErrInvalid      = errors.New("metastore: invalid argument")
	// ErrProducerIDsExhausted: the int64 producer-ID space is used up
	// (not expected in practice; reported rather than wrapping around).
	ErrProducerIDsExhausted = errors.New("metastore: producer IDs exhausted")
)

// CorruptError reports a metastore file that failed its checks. Open
// returns it; the message names the file so an operator can act on it.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("metastore: corrupt file %s: %s", e.Path, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// TopicRecord is one topic in the catalog.
type TopicRecord struct {
	Name       string
	ID         [16]byte
	Partitions int32
	// Configs holds the topic-level overrides only (Kafka names); broker
	// defaults are not copied in, so changing a default reaches every topic
	// that did not override it.
	Configs   map[string]string
	CreatedMs int64
}

func (r TopicRecord) clone() TopicRecord {
	if r.Configs != nil {
		r.Configs = maps.Clone(r.Configs)
	}
	return r
}

// Store is the open metastore. Its methods are safe for concurrent use;
// writes are serialized by one mutex (they are rare and small).
type Store struct {
	dir string

	mu        sync.Mutex
	closed    bool
	clusterID string
	topics    map[string]TopicRecord
	nextPID   int64 // next producer ID to hand out
	pidLimit  int64 // first ID not reserved on disk
}

type clusterJSON struct {
	ClusterID string `json:"cluster_id"`
}

type topicJSON struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
}

type topicsJSON struct {
	Topics []topicJSON `json:"topics"`
}

type producerIDsJSON struct {
	NextBlock int64 `json:"next_block"`
}

// Open opens (creating if needed) the metastore in dir, normally
// <data-dir>/meta. A torn temp file from an interrupted write is removed;
// a corrupt file makes Open fail with a *CorruptError naming it.
func Open(dir string) (*Store, error) {
	if err := mkdirDurable(dir); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, topics: make(map[string]TopicRecord)}
	if err := s.removeTemps(); err != nil {
		return nil, err
	}
	if err := s.loadCluster(); err != nil {
		return nil, err
	}
	if err := s.loadTopics(); err != nil {
		return nil, err
	}
	if err := s.loadProducerIDs(); err != nil {
		return nil, err
	}
	return s, nil
}

// mkdirDurable creates dir (and parents) and fsyncs the parent so the new
// directory entry survives a crash.
func mkdirDurable(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("metastore: %s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("metastore: %w", err)
	}
	return syncDir(filepath.Dir(filepath.Clean(dir)))
}

// removeTemps deletes leftovers of interrupted atomic writes: a ".tmp" file
// was never renamed into place, so its content was never committed.
func (s *Store) removeTemps() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("metastore: %w", err)
	}
	removed := false
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return fmt.Errorf("metastore: remove torn temp file: %w", err)
			}
			removed = true
		}
	}
	if removed {
		return syncDir(s.dir)
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// decodeJSON unmarshals a payload strictly; a payload that passed its
// checksum but does not parse is still corruption (or a bug) and is
// reported against the file.
func decodeJSON(path string, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return &CorruptError{Path: path, Reason: "bad payload: " + err.Error()}
	}
	return nil
}

func (s *Store) loadCluster() error {
	p := s.path(clusterFile)
	payload, err := readFrame(p, kindCluster)
	if err != nil {
		return err
	}
	if payload == nil {
		id, err := newID()
		if err != nil {
			return err
		}
		b, _ := json.Marshal(clusterJSON{ClusterID: encodeID(id)})
		if err := writeFrameAtomic(p, kindCluster, b); err != nil {
			return err
		}
		s.clusterID = encodeID(id)
		return nil
	}
	var c clusterJSON
	if err := decodeJSON(p, payload, &c); err != nil {
		return err
	}
	if _, err := DecodeID(c.ClusterID); err != nil {
		return &CorruptError{Path: p, Reason: "bad cluster ID: " + err.Error()}
	}
	s.clusterID = c.ClusterID
	return nil
}

func (s *Store) loadTopics() error {
	p := s.path(topicsFile)
	payload, err := readFrame(p, kindTopics)
	if err != nil || payload == nil {
		return err
	}
	var t topicsJSON
	if err := decodeJSON(p, payload, &t); err != nil {
		return err
	}
	for _, tj := range t.Topics {
		id, err := DecodeID(tj.ID)
		if err != nil {
			return &CorruptError{Path: p, Reason: fmt.Sprintf("topic %q: bad ID: %v", tj.Name, err)}
		}
		if tj.Name == "" || tj.Partitions < 1 {
			return &CorruptError{Path: p, Reason: fmt.Sprintf("topic %q: bad record (partitions %d)", tj.Name, tj.Partitions)}
		}
		if _, dup := s.topics[tj.Name]; dup {
			return &CorruptError{Path: p, Reason: fmt.Sprintf("topic %q listed twice", tj.Name)}
		}
		s.topics[tj.Name] = TopicRecord{Name: tj.Name, ID: id, Partitions: tj.Partitions, Configs: tj.Configs, CreatedMs: tj.CreatedMs}
	}
	return nil
}

func (s *Store) loadProducerIDs() error {
	p := s.path(producerIDsFile)
	payload, err := readFrame(p, kindProducerIDs)
	if err != nil || payload == nil {
		return err
	}
	var pj producerIDsJSON
	if err := decodeJSON(p, payload, &pj); err != nil {
		return err
	}
	if pj.NextBlock < 0 {
		return &CorruptError{Path: p, Reason: fmt.Sprintf("negative next_block %d", pj.NextBlock)}
	}
	// Everything below NextBlock may have been handed out before the
	// restart; start after it.
	s.nextPID, s.pidLimit = pj.NextBlock, pj.NextBlock
	return nil
}

// Dir returns the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Close marks the store closed. Every write was already durable when it
// returned, so there is nothing to flush. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// ClusterID returns the cluster ID: base64url (no padding) of 16 random
// bytes, generated on the first Open of the directory and kept forever.
func (s *Store) ClusterID() string { return s.clusterID }

// Topics returns a copy of the catalog, sorted by name.
func (s *Store) Topics() []TopicRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TopicRecord, 0, len(s.topics))
	for _, r := range s.topics {
		out = append(out, r.clone())
	}
	slices.SortFunc(out, func(a, b TopicRecord) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PutTopic adds or replaces the record for r.Name. It is durable when it
// returns; on error the catalog (in memory and on disk) is unchanged.
func (s *Store) PutTopic(r TopicRecord) error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalid)
	}
	if r.Partitions < 1 {
		return fmt.Errorf("%w: topic %q: %d partitions", ErrInvalid, r.Name, r.Partitions)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	old, had := s.topics[r.Name]
	s.topics[r.Name] = r.clone()
	if err := s.writeTopicsLocked(); err != nil {
		if had {
			s.topics[r.Name] = old
		} else {
			delete(s.topics, r.Name)
		}
		return err
	}
	return nil
}

// DeleteTopic removes a topic from the catalog, durably. It returns an
// error wrapping ErrUnknownTopic if the topic is not there.
func (s *Store) DeleteTopic(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	old, ok := s.topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	delete(s.topics, name)
	if err := s.writeTopicsLocked(); err != nil {
		s.topics[name] = old
		return err
	}
	return nil
}

// writeTopicsLocked persists the whole catalog. Callers hold s.mu.
func (s *Store) writeTopicsLocked() error {
	t := topicsJSON{Topics: make([]topicJSON, 0, len(s.topics))}
	for _, r := range s.topics {
		t.Topics = append(t.Topics, topicJSON{Name: r.Name, ID: encodeID(r.ID), Partitions: r.Partitions, Configs: r.Configs, CreatedMs: r.CreatedMs})
	}
	slices.SortFunc(t.Topics, func(a, b topicJSON) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("metastore: encode catalog: %w", err)
	}
	return writeFrameAtomic(s.path(topicsFile), kindTopics, b)
}

// AllocateProducerIDs hands out n consecutive producer IDs and returns the
// first. The IDs are durable when it returns: no later call, in this
// process or after a restart, returns any of them again.
func (s *Store) AllocateProducerIDs(n int64) (first int64, err error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: allocate %d producer IDs", ErrInvalid, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if n > math.MaxInt64-s.nextPID {
		return 0, ErrProducerIDsExhausted
	}
	if s.nextPID+n > s.pidLimit {
		reserve := max(n, ProducerIDBlock)
		if reserve > math.MaxInt64-s.nextPID {
			reserve = n
		}
		limit := s.nextPID + reserve
		b, _ := json.Marshal(producerIDsJSON{NextBlock: limit})
		if err := writeFrameAtomic(s.path(producerIDsFile), kindProducerIDs, b); err != nil {
			return 0, err
		}
		s.pidLimit = limit
	}
	first = s.nextPID
	s.nextPID += n
	return first, nil
}

// NewTopicID returns a random topic ID that is valid for Kafka: not all
// zero (Kafka's "no ID"), not the reserved metadata-topic ID (1), and not
// one whose text form starts with '-' (Kafka avoids those because they
// look like command-line flags).
func NewTopicID() ([16]byte, error) { return newID() }

func newID() ([16]byte, error) {
	var id [16]byte
	for {
		if _, err := rand.Read(id[:]); err != nil {
			return id, fmt.Errorf("metastore: random ID: %w", err)
		}
		var reserved [16]byte
		reserved[15] = 1
		if id == ([16]byte{}) || id == reserved || encodeID(id)[0] == '-' {
			continue
		}
		return id, nil
	}
}

// EncodeID is Kafka's text form of a UUID: base64url without padding.
func EncodeID(id [16]byte) string { return encodeID(id) }

func encodeID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// DecodeID parses EncodeID's form.
func DecodeID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return id, fmt.Errorf("%w: ID %q: %v", ErrInvalid, s, err)
	}
	if len(b) != 16 {
		return id, fmt.Errorf("%w: ID %q decodes to %d bytes, want 16", ErrInvalid, s, len(b))
	}
	copy(id[:], b)
	return id, nil
}
