package metastore

// The queue catalog: which SQS queues exist, with their attributes, tags
// and timestamps. The messages and their delivery state live elsewhere
// (internal/queue, under <data-dir>/queues/<name>/); this file only says
// which queues exist and how they are configured.
//
// File: queues.meta, one frame of file.go with kind 16 (kindQueues),
// replaced atomically on every change. Payload (UTF-8 JSON):
//
//	{"queues": [{"name": "orders.fifo",
//	             "attributes": {"FifoQueue": "true", "VisibilityTimeout": "60"},
//	             "tags": {"team": "billing"},
//	             "created_ms": 1700000000000, "modified_ms": 1700000000000}, ...]}
//
// sorted by name. "attributes" holds the attributes the user set, in SQS's
// names and string forms (defaults are not copied in); computed attributes
// (ApproximateNumberOfMessages, QueueArn …) are never stored.
//
// The catalog is not cached in the Store: it is read from disk on each
// call. Queue catalog changes are rare (create, delete, set attributes,
// tag), the file is small, and this keeps the Store's fields (store.go)
// untouched. Writers hold Store.mu, so a read-modify-write never races
// another one.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

const (
	queuesFile = "queues.meta"
	// kindQueues is far from the kinds of file.go so that kinds other
	// components add there do not collide with it.
	kindQueues fileKind = 16
)

// ErrUnknownQueue is returned by DeleteQueue for a queue not in the catalog.
var ErrUnknownQueue = errors.New("metastore: unknown queue")

// QueueRecord is one SQS queue in the catalog.
type QueueRecord struct {
	Name string
	// Attributes are the attributes set by the user (SQS names and string
	// values); defaults are not stored.
	Attributes map[string]string
	Tags       map[string]string
	CreatedMs  int64
	ModifiedMs int64
}

func (r QueueRecord) clone() QueueRecord {
	if r.Attributes != nil {
		r.Attributes = maps.Clone(r.Attributes)
	}
	if r.Tags != nil {
		r.Tags = maps.Clone(r.Tags)
	}
	return r
}

type queueJSON struct {
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
	ModifiedMs int64             `json:"modified_ms"`
}

type queuesJSON struct {
	Queues []queueJSON `json:"queues"`
}

// Queues returns the queue catalog, sorted by name. A corrupt catalog file
// is a *CorruptError.
func (s *Store) Queues() ([]QueueRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	m, err := s.readQueuesLocked()
	if err != nil {
		return nil, err
	}
	out := make([]QueueRecord, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b QueueRecord) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PutQueue adds or replaces the record for r.Name. It is durable when it
// returns; on error the catalog on disk is unchanged.
func (s *Store) PutQueue(r QueueRecord) error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty queue name", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	m, err := s.readQueuesLocked()
	if err != nil {
		return err
	}
	m[r.Name] = r.clone()
	return s.writeQueuesLocked(m)
}

// DeleteQueue removes a queue from the catalog, durably. It returns an
// error wrapping ErrUnknownQueue if the queue is not there.
func (s *Store) DeleteQueue(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	m, err := s.readQueuesLocked()
	if err != nil {
		return err
	}
	if _, ok := m[name]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownQueue, name)
	}
	delete(m, name)
	return s.writeQueuesLocked(m)
}

// readQueuesLocked loads the catalog file (empty when missing). Callers
// hold s.mu.
func (s *Store) readQueuesLocked() (map[string]QueueRecord, error) {
	p := s.path(queuesFile)
	out := make(map[string]QueueRecord)
	payload, err := readFrame(p, kindQueues)
	if err != nil || payload == nil {
		return out, err
	}
	var qj queuesJSON
	if err := decodeJSON(p, payload, &qj); err != nil {
		return nil, err
	}
	for _, q := range qj.Queues {
		if q.Name == "" {
			return nil, &CorruptError{Path: p, Reason: "queue with an empty name"}
		}
		if _, dup := out[q.Name]; dup {
			return nil, &CorruptError{Path: p, Reason: fmt.Sprintf("queue %q listed twice", q.Name)}
		}
		out[q.Name] = QueueRecord(q)
	}
	return out, nil
}

// writeQueuesLocked persists the whole queue catalog. Callers hold s.mu.
func (s *Store) writeQueuesLocked(m map[string]QueueRecord) error {
	qj := queuesJSON{Queues: make([]queueJSON, 0, len(m))}
	for _, r := range m {
		qj.Queues = append(qj.Queues, queueJSON(r))
	}
	slices.SortFunc(qj.Queues, func(a, b queueJSON) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.Marshal(qj)
	if err != nil {
		return fmt.Errorf("metastore: encode queue catalog: %w", err)
	}
	return writeFrameAtomic(s.path(queuesFile), kindQueues, b)
}
