package queue

// Manager owns every queue of a broker: the catalog (through metastore),
// the queue directories under <data-dir>/queues/<name>/, a housekeeping
// goroutine and the message move tasks.
//
// Goroutines: the housekeeping loop (started by Open, stopped by Close)
// ends leases and delays, drops messages past their retention period,
// trims consumed log segments and checkpoints journals, once a second; a
// move task's goroutine runs from StartMoveTask until it completes, fails
// or is cancelled (Close cancels the ones still running).

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
)

// housekeepingInterval is how often the housekeeping loop runs.
var housekeepingInterval = time.Second

// Manager holds every queue of a broker. Its methods are safe for
// concurrent use.
type Manager struct {
	cfg Config
	dir string // <data-dir>/queues

	mu     sync.Mutex // create, delete, move tasks
	closed bool
	queues atomic.Pointer[map[string]*Queue] // replaced whole under mu; read without it
	tasks  []*moveTask                       // oldest first

	stop chan struct{}
	wg   sync.WaitGroup
}

// WithDefaults returns c with every zero field that has a default set.
func (c Config) WithDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("queue: Config.DataDir is required")
	case c.Meta == nil:
		return errors.New("queue: Config.Meta is required")
	case strings.ContainsAny(c.Region, ": ") || strings.ContainsAny(c.AccountID, ": "):
		return errors.New("queue: Config.Region and Config.AccountID may not hold ':' or spaces")
	}
	return nil
}

// Open opens every queue in the catalog, recovering each from its snapshot,
// journal and log, and removes directories of queues the catalog no
// longer lists (a crash during Delete or Create).
func Open(cfg Config) (*Manager, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, dir: filepath.Join(cfg.DataDir, "queues"), stop: make(chan struct{})}
	empty := map[string]*Queue{}
	m.queues.Store(&empty)
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	recs, err := cfg.Meta.Queues()
	if err != nil {
		return nil, fmt.Errorf("queue: read catalog: %w", err)
	}
	known := map[string]bool{}
	for _, r := range recs {
		known[r.Name] = true
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	for _, e := range ents {
		if !known[e.Name()] {
			cfg.Logger.Warn("queue: removing the directory of a queue not in the catalog", "dir", filepath.Join(m.dir, e.Name()))
			if err := os.RemoveAll(filepath.Join(m.dir, e.Name())); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrStorage, err)
			}
		}
	}
	qs := map[string]*Queue{}
	for _, r := range recs {
		dir := filepath.Join(m.dir, r.Name)
		// A directory without a snapshot is recovered from its log (with
		// a warning from recover); only a missing directory starts empty.
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			cfg.Logger.Warn("queue: queue directory missing; starting it empty", "queue", r.Name)
			if err := createQueueFiles(m, dir); err != nil {
				closeAll(qs)
				return nil, err
			}
		}
		q, err := openQueue(m, r, dir)
		if err != nil {
			closeAll(qs)
			return nil, err
		}
		qs[r.Name] = q
	}
	m.queues.Store(&qs)
	m.wg.Add(1)
	go m.housekeeping()
	return m, nil
}

func closeAll(qs map[string]*Queue) {
	for _, q := range qs {
		q.close()
	}
}

// Close stops the housekeeping loop and move tasks and closes every queue
// (checkpointing its state). It is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.stop)
	tasks := slices.Clone(m.tasks)
	m.mu.Unlock()
	for _, t := range tasks {
		t.cancelAndWait()
	}
	m.wg.Wait()
	var err error
	for _, q := range *m.queues.Load() {
		if cerr := q.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Get returns the queue called name, or nil.
func (m *Manager) Get(name string) *Queue { return (*m.queues.Load())[name] }

// List returns the queues whose names start with prefix, sorted by name.
func (m *Manager) List(prefix string) []*Queue {
	var out []*Queue
	for name, q := range *m.queues.Load() {
		if strings.HasPrefix(name, prefix) {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b *Queue) int { return strings.Compare(a.name, b.name) })
	return out
}

// ARN returns arn:aws:sqs:<region>:<account>:<name>.
func (m *Manager) ARN(name string) string { return m.arnPrefix() + name }

// DeadLetterSources lists the queues whose RedrivePolicy names dlqName as
// their dead-letter queue, sorted by name.
func (m *Manager) DeadLetterSources(dlqName string) []*Queue {
	var out []*Queue
	for _, q := range m.List("") {
		if rp := q.config().redrive; rp != nil && rp.dlqName == dlqName {
			out = append(out, q)
		}
	}
	return out
}

func noSuchQueue() *Error {
	return errorf(CodeQueueDoesNotExist, "The specified queue does not exist.")
}

// Create creates a queue, or returns the existing one when every
// attribute given equals its value there (QueueNameExists otherwise).
func (m *Manager) Create(name string, attrs map[string]string, tags map[string]string) (*Queue, error) {
	fifo := false
	if v, ok := attrs[AttrFifoQueue]; ok {
		b, err := boolAttr(AttrFifoQueue, v)
		if err != nil {
			return nil, err
		}
		fifo = b == "true"
	}
	if err := validateQueueName(name, fifo); err != nil {
		return nil, err
	}
	if err := validateTags(nil, tags); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	norm, err := normalizeAttrs(m, name, fifo, attrs, true)
	if err != nil {
		return nil, err
	}
	if q := m.Get(name); q != nil {
		q.mu.Lock()
		stored := q.rec.Attributes
		q.mu.Unlock()
		if k, same := sameAttrs(name, stored, norm); !same {
			return nil, errorf(CodeQueueNameExists, "A queue already exists with the same name and a different value for attribute %s", k)
		}
		return q, nil
	}
	delete(norm, AttrFifoQueue) // the name says it
	for k, v := range norm {
		if v == "" {
			delete(norm, k) // empty optional policy = unset
		}
	}
	dir := filepath.Join(m.dir, name)
	if err := createQueueFiles(m, dir); err != nil {
		return nil, err
	}
	nowMs := m.cfg.Now().UnixMilli()
	rec := metastore.QueueRecord{Name: name, Attributes: norm, Tags: cloneAttrs(tags), CreatedMs: nowMs, ModifiedMs: nowMs}
	q, err := openQueue(m, rec, dir)
	if err == nil {
		if err = m.cfg.Meta.PutQueue(rec); err != nil {
			q.close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: create queue %s: %w", ErrStorage, name, err)
	}
	next := cloneQueues(*m.queues.Load())
	next[name] = q
	m.queues.Store(&next)
	return q, nil
}

func cloneQueues(a map[string]*Queue) map[string]*Queue {
	b := make(map[string]*Queue, len(a)+1)
	for k, v := range a {
		b[k] = v
	}
	return b
}

// Delete deletes a queue and its messages. Long polls on it return
// QueueDoesNotExist; move tasks from it stop.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	q := m.Get(name)
	if q == nil || m.closed {
		m.mu.Unlock()
		if m.closed {
			return ErrClosed
		}
		return noSuchQueue()
	}
	if err := m.cfg.Meta.DeleteQueue(name); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: delete queue %s: %w", ErrStorage, name, err)
	}
	next := cloneQueues(*m.queues.Load())
	delete(next, name)
	m.queues.Store(&next)
	var tasks []*moveTask
	for _, t := range m.tasks {
		if t.source == q {
			tasks = append(tasks, t)
		}
	}
	m.mu.Unlock()
	q.mu.Lock()
	q.deleted = true
	q.mu.Unlock()
	for _, t := range tasks {
		t.cancelAndWait()
	}
	q.close()
	if err := os.RemoveAll(q.dir); err != nil {
		// The catalog no longer lists it: the next Open removes it.
		m.cfg.Logger.Warn("queue: could not remove a deleted queue's directory", "dir", q.dir, "err", err)
	}
	return nil
}

// housekeeping runs Queue.housekeep for every queue once a second.
func (m *Manager) housekeeping() {
	defer m.wg.Done()
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			for _, q := range *m.queues.Load() {
				q.housekeep()
			}
		}
	}
}
