// Package topic holds the live topics of a broker and their partition logs.
//
// The catalog (which topics exist, their IDs, partition counts and config
// overrides) is kept durably by internal/metastore; the data of partition p
// of topic t lives in the log directory <data-dir>/topics/<t>-<p>/, opened
// with internal/logstore.
//
// # Crash safety
//
// The catalog is the source of truth; a directory under topics/ that the
// catalog does not name is an orphan and is removed on Open (and logged).
// Every change is ordered so that a crash at any point leaves either the
// old state or the new one plus orphans:
//
//   - Create and CreatePartitions open the new logs first, then record them
//     in the catalog.
//   - Delete removes the topic from the catalog first, then its directories.
//
// # Concurrency
//
// Readers (Get, GetByID, List, and every Topic method) take no lock: they
// read immutable snapshots through atomic pointers, because produce and
// fetch call Get on every request. Changes (Create, Delete,
// CreatePartitions, AlterConfigs, Close) are serialized by Registry.admin
// and publish new snapshots. Lock order: Registry.admin, then the
// metastore's own lock (taken inside its methods), then each log's locks.
// The retention goroutine takes no registry lock.
//
// A *Topic stays usable after Delete, but its logs are closed, so reads and
// appends on them fail with logstore.ErrClosed.
package topic

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
	"github.com/sluice-mq/sluice/internal/metastore"
)

// MaxPartitions is the most partitions one topic may have. Each partition
// is a directory with open files, so the bound protects the process from a
// typo such as --partitions 1000000.
const MaxPartitions = 10000

// Defaults are the broker-level settings that shape topics. The zero value
// is usable: each zero field takes the default documented on it.
type Defaults struct {
	// NumPartitions is num.partitions: the partition count of a topic
	// created with partitions = -1 (CreateTopics' "broker default", and
	// auto-created topics). Default 1.
	NumPartitions int32
	// Log holds the broker defaults of the log.* settings. Zero fields take
	// logstore's defaults; topic overrides go on top. Logger and Now, if
	// set, are passed to every log.
	Log logstore.Config
	// RetentionCheckInterval is log.retention.check.interval.ms: how often
	// retention runs over every log. Default 5 minutes.
	RetentionCheckInterval time.Duration
	// MaxTotalPartitions bounds the partitions of all topics together;
	// going over is ErrPolicyViolation. Default 50000.
	MaxTotalPartitions int
}

const (
	defaultRetentionCheckInterval = 5 * time.Minute
	defaultMaxTotalPartitions     = 50000
)

func (d Defaults) withDefaults() Defaults {
	if d.NumPartitions <= 0 {
		d.NumPartitions = 1
	}
	if d.RetentionCheckInterval <= 0 {
		d.RetentionCheckInterval = defaultRetentionCheckInterval
	}
	if d.MaxTotalPartitions <= 0 {
		d.MaxTotalPartitions = defaultMaxTotalPartitions
	}
	return d
}

// Topic is one live topic. Its methods are safe for concurrent use and
// take no lock.
type Topic struct {
	reg       *Registry
	name      string
	id        [16]byte
	createdMs int64
	parts     atomic.Pointer[[]*logstore.Log]   // grows by CreatePartitions
	overrides atomic.Pointer[map[string]string] // replaced by AlterConfigs
}

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// ID returns the topic's 16-byte ID (Kafka's topic UUID).
func (t *Topic) ID() [16]byte { return t.id }

// CreatedMs returns the creation time, in ms since the epoch.
func (t *Topic) CreatedMs() int64 { return t.createdMs }

// NumPartitions returns the partition count.
func (t *Topic) NumPartitions() int32 { return int32(len(*t.parts.Load())) }

// Partition returns partition i's log, or nil if i is out of range. A topic
// returned by Create with validateOnly has no logs: Partition returns nil.
func (t *Topic) Partition(i int32) *logstore.Log {
	p := *t.parts.Load()
	if i < 0 || int(i) >= len(p) {
		return nil
	}
	return p[i]
}

// Overrides returns a copy of the topic-level config overrides.
func (t *Topic) Overrides() map[string]string { return maps.Clone(*t.overrides.Load()) }

// Configs returns every supported topic config with its effective value
// and where that value comes from, sorted by key.
func (t *Topic) Configs() []ConfigEntry { return describe(t.reg.defaults.Log, *t.overrides.Load()) }

// LogConfig returns the logstore.Config the topic's partitions use.
func (t *Topic) LogConfig() logstore.Config {
	return logConfig(t.reg.defaults.Log, *t.overrides.Load())
}

func (t *Topic) record() metastore.TopicRecord {
	return metastore.TopicRecord{Name: t.name, ID: t.id, Partitions: t.NumPartitions(), Configs: maps.Clone(*t.overrides.Load()), CreatedMs: t.createdMs}
}

// snapshot is an immutable view of the topics; replaced whole on change.
type snapshot struct {
	byName     map[string]*Topic
	byID       map[[16]byte]*Topic
	sorted     []*Topic
	collisions map[string]string // collisionKey -> name
}

// Registry is the set of live topics.
type Registry struct {
	dataDir   string
	topicsDir string
	store     *metastore.Store
	defaults  Defaults
	logger    *slog.Logger

	admin  sync.Mutex // serializes changes; see the package comment
	closed bool       // guarded by admin
	snap   atomic.Pointer[snapshot]

	stop chan struct{} // closed by Close to stop the retention goroutine
	done chan struct{} // closed when the retention goroutine has returned
}

// TopicsDir is the directory under dataDir that holds partition logs.
func TopicsDir(dataDir string) string { return filepath.Join(dataDir, "topics") }

// PartitionDir returns the log directory of one partition.
func PartitionDir(dataDir, topic string, partition int32) string {
	return filepath.Join(TopicsDir(dataDir), topic+"-"+strconv.Itoa(int(partition)))
}

// Open opens every partition log of every topic in the catalog, removes
// orphan directories, and starts the retention goroutine (stopped by
// Close). logger may be nil (slog.Default()).
func Open(dataDir string, store *metastore.Store, defaults Defaults, logger *slog.Logger) (*Registry, error) {
	if store == nil {
		return nil, errors.New("topic: Open: nil metastore")
	}
	if logger == nil {
		logger = slog.Default()
	}
	r := &Registry{
		dataDir:   dataDir,
		topicsDir: TopicsDir(dataDir),
		store:     store,
		defaults:  defaults.withDefaults(),
		logger:    logger,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := os.MkdirAll(r.topicsDir, 0o755); err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	if err := syncDir(dataDir); err != nil { // the topics/ entry itself
		return nil, err
	}
	var topics []*Topic
	fail := func(err error) (*Registry, error) {
		for _, t := range topics {
			closeLogs(*t.parts.Load())
		}
		return nil, err
	}
	for _, rec := range store.Topics() {
		overrides, err := ValidateConfigs(rec.Configs)
		if err != nil {
			return fail(fmt.Errorf("topic: catalog entry for topic %q in %s: %w", rec.Name, store.Dir(), err))
		}
		t := &Topic{reg: r, name: rec.Name, id: rec.ID, createdMs: rec.CreatedMs}
		t.overrides.Store(&overrides)
		logs, err := r.openLogs(t, 0, rec.Partitions, false)
		if err != nil {
			return fail(err)
		}
		t.parts.Store(&logs)
		topics = append(topics, t)
	}
	r.publish(topics)
	if err := r.removeOrphans(); err != nil {
		return fail(err)
	}
	go r.retentionLoop()
	return r, nil
}

// openLogs opens partitions [from, to) of t and returns all of t's logs
// (the existing ones below from, then the new ones). If one fails, those it
// opened are closed, and with fresh (new partitions) also removed.
func (r *Registry) openLogs(t *Topic, from, to int32, fresh bool) ([]*logstore.Log, error) {
	cfg := t.LogConfig()
	logger := cfg.Logger
	if logger == nil {
		logger = r.logger
	}
	logs := make([]*logstore.Log, 0, to)
	if from > 0 {
		logs = append(logs, (*t.parts.Load())...)
	}
	for p := from; p < to; p++ {
		c := cfg
		c.Logger = logger.With("topic", t.name, "partition", p)
		l, err := logstore.Open(PartitionDir(r.dataDir, t.name, p), c)
		if err != nil {
			if fresh {
				r.removeLogs(t.name, logs[from:])
			} else {
				closeLogs(logs[from:])
			}
			return nil, fmt.Errorf("topic: open partition %d of %q: %w", p, t.name, err)
		}
		logs = append(logs, l)
	}
	return logs, nil
}

func closeLogs(logs []*logstore.Log) error {
	var errs []error
	for _, l := range logs {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	return errors.Join(errs...)
}

// removeLogs closes and deletes logs, reporting failures: a directory left
// behind is an orphan that the next Open (or a Create of the same name)
// removes.
func (r *Registry) removeLogs(name string, logs []*logstore.Log) {
	for _, l := range logs {
		if err := l.Remove(); err != nil {
			r.logger.Warn("topic: could not remove partition log; it will be removed on next start", "topic", name, "err", err)
		}
	}
}

// removeOrphans deletes directories under topics/ that belong to no
// partition in the catalog (left by a crash during Create, Delete or
// CreatePartitions).
func (r *Registry) removeOrphans() error {
	ents, err := os.ReadDir(r.topicsDir)
	if err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	s := r.snap.Load()
	for _, e := range ents {
		name, p, ok := parsePartitionDir(e.Name())
		if !ok || !e.IsDir() {
			r.logger.Warn("topic: ignoring unexpected entry in topics directory", "path", filepath.Join(r.topicsDir, e.Name()))
			continue
		}
		if t := s.byName[name]; t != nil && p < t.NumPartitions() {
			continue
		}
		path := filepath.Join(r.topicsDir, e.Name())
		r.logger.Warn("topic: removing orphan partition directory (not in the catalog; left by an interrupted create or delete)", "path", path)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("topic: remove orphan %s: %w", path, err)
		}
	}
	return nil
}

// syncDir fsyncs a directory so that entries created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("topic: fsync %s: %w", dir, err)
	}
	return nil
}

// parsePartitionDir splits "<topic>-<partition>".
func parsePartitionDir(base string) (name string, p int32, ok bool) {
	i := strings.LastIndexByte(base, '-')
	if i <= 0 || i == len(base)-1 {
		return "", 0, false
	}
	name, num := base[:i], base[i+1:]
	if num[0] < '0' || num[0] > '9' { // no sign
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || strconv.FormatInt(n, 10) != num || ValidateName(name) != nil {
		return "", 0, false
	}
	return name, int32(n), true
}

// publish installs a new snapshot built from topics.
func (r *Registry) publish(topics []*Topic) {
	s := &snapshot{
		byName:     make(map[string]*Topic, len(topics)),
		byID:       make(map[[16]byte]*Topic, len(topics)),
		collisions: make(map[string]string, len(topics)),
		sorted:     slices.Clone(topics),
	}
	slices.SortFunc(s.sorted, func(a, b *Topic) int { return strings.Compare(a.name, b.name) })
	for _, t := range topics {
		s.byName[t.name] = t
		s.byID[t.id] = t
		s.collisions[collisionKey(t.name)] = t.name
	}
	r.snap.Store(s)
}

// Get returns the named topic, or nil.
func (r *Registry) Get(name string) *Topic { return r.snap.Load().byName[name] }

// GetByID returns the topic with this ID, or nil.
func (r *Registry) GetByID(id [16]byte) *Topic { return r.snap.Load().byID[id] }

// List returns every topic, sorted by name.
func (r *Registry) List() []*Topic { return slices.Clone(r.snap.Load().sorted) }

// Defaults returns the broker defaults the registry was opened with (zero
// fields filled).
func (r *Registry) Defaults() Defaults { return r.defaults }

func (r *Registry) totalPartitions() int {
	n := 0
	for _, t := range r.snap.Load().sorted {
		n += int(t.NumPartitions())
	}
	return n
}

// checkPartitions validates a requested partition count.
func (r *Registry) checkPartitions(n int32, existing int) error {
	if n < 1 {
		return fmt.Errorf("%w: %d (must be at least 1, or -1 for the broker default)", ErrInvalidPartitions, n)
	}
	if n > MaxPartitions {
		return fmt.Errorf("%w: %d (at most %d per topic)", ErrInvalidPartitions, n, MaxPartitions)
	}
	if total := r.totalPartitions() - existing + int(n); total > r.defaults.MaxTotalPartitions {
		return fmt.Errorf("%w: the broker would have %d partitions, more than its limit of %d", ErrPolicyViolation, total, r.defaults.MaxTotalPartitions)
	}
	return nil
}

// checkLogConfig is a safety net behind ValidateConfigs: the log config
// the overrides produce must also pass logstore's own validation, so that
// a bad combination is refused as ErrInvalidConfig rather than failing
// when a log opens.
func (r *Registry) checkLogConfig(overrides map[string]string) error {
	if err := logConfig(r.defaults.Log, overrides).WithDefaults().Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return nil
}

// Create creates a topic with partitions partitions (-1: Defaults'
// NumPartitions) and the given config overrides. With validateOnly it
// checks everything and returns a topic that is not registered and has no
// logs. Errors wrap ErrInvalidTopicName, ErrTopicExists,
// ErrInvalidPartitions, ErrPolicyViolation or ErrInvalidConfig.
func (r *Registry) Create(name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if partitions == -1 {
		partitions = r.defaults.NumPartitions
	}
	overrides, err := ValidateConfigs(configs)
	if err != nil {
		return nil, err
	}
	if err := r.checkLogConfig(overrides); err != nil {
		return nil, err
	}
	r.admin.Lock()
	defer r.admin.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	s := r.snap.Load()
	if s.byName[name] != nil {
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	if other, ok := s.collisions[collisionKey(name)]; ok {
		return nil, &NameError{Name: name, Reason: fmt.Sprintf("collides with existing topic %q ('.' and '_' are treated alike)", other)}
	}
	if err := r.checkPartitions(partitions, 0); err != nil {
		return nil, err
	}
	t := &Topic{reg: r, name: name, createdMs: time.Now().UnixMilli()}
	t.overrides.Store(&overrides)
	if validateOnly {
		logs := make([]*logstore.Log, partitions)
		t.parts.Store(&logs)
		return t, nil
	}
	for {
		if t.id, err = metastore.NewTopicID(); err != nil {
			return nil, fmt.Errorf("topic: %w", err)
		}
		if s.byID[t.id] == nil {
			break
		}
	}
	// A directory with this name is an orphan (the topic is not in the
	// catalog): never let a new topic inherit old data.
	if err := r.removeStaleDirs(name, 0, partitions); err != nil {
		return nil, err
	}
	empty := []*logstore.Log{}
	t.parts.Store(&empty)
	logs, err := r.openLogs(t, 0, partitions, true)
	if err != nil {
		return nil, err
	}
	t.parts.Store(&logs)
	// The new directories must be durable before the catalog names them.
	if err := syncDir(r.topicsDir); err != nil {
		r.removeLogs(name, logs)
		return nil, err
	}
	if err := r.store.PutTopic(t.record()); err != nil {
		r.removeLogs(name, logs)
		return nil, fmt.Errorf("topic: create %q: %w", name, err)
	}
	r.publish(append(slices.Clone(s.sorted), t))
	r.logger.Info("topic: created", "topic", name, "partitions", partitions, "id", metastore.EncodeID(t.id))
	return t, nil
}

func (r *Registry) removeStaleDirs(name string, from, to int32) error {
	for p := from; p < to; p++ {
		dir := PartitionDir(r.dataDir, name, p)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		r.logger.Warn("topic: removing stale partition directory before creating it anew", "path", dir)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("topic: remove stale %s: %w", dir, err)
		}
	}
	return nil
}

// Delete deletes a topic and its data. The topic leaves the catalog first
// (durably), then its logs are closed and their directories removed.
func (r *Registry) Delete(name string) error {
	r.admin.Lock()
	defer r.admin.Unlock()
	if r.closed {
		return ErrClosed
	}
	s := r.snap.Load()
	t := s.byName[name]
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if err := r.store.DeleteTopic(name); err != nil {
		return fmt.Errorf("topic: delete %q: %w", name, err)
	}
	r.publish(slices.DeleteFunc(slices.Clone(s.sorted), func(x *Topic) bool { return x == t }))
	r.removeLogs(name, *t.parts.Load())
	r.logger.Info("topic: deleted", "topic", name)
	return nil
}

// CreatePartitions raises a topic's partition count to total. Partitions
// can only be added (ErrInvalidPartitions otherwise, as in Kafka).
func (r *Registry) CreatePartitions(name string, total int32, validateOnly bool) error {
	r.admin.Lock()
	defer r.admin.Unlock()
	if r.closed {
		return ErrClosed
	}
	t := r.snap.Load().byName[name]
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	cur := t.NumPartitions()
	if total <= cur {
		return fmt.Errorf("%w: topic %q has %d partitions; the count can only be increased (asked for %d)", ErrInvalidPartitions, name, cur, total)
	}
	if err := r.checkPartitions(total, int(cur)); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := r.removeStaleDirs(name, cur, total); err != nil {
		return err
	}
	logs, err := r.openLogs(t, cur, total, true)
	if err != nil {
		return err
	}
	if err := syncDir(r.topicsDir); err != nil {
		r.removeLogs(name, logs[cur:])
		return err
	}
	rec := t.record()
	rec.Partitions = total
	if err := r.store.PutTopic(rec); err != nil {
		r.removeLogs(name, logs[cur:])
		return fmt.Errorf("topic: add partitions to %q: %w", name, err)
	}
	t.parts.Store(&logs)
	r.logger.Info("topic: partitions added", "topic", name, "from", cur, "to", total)
	return nil
}

// AlterConfigs changes a topic's config overrides. With replaceAll (legacy
// AlterConfigs) every key not set by ops returns to its default. The new
// overrides are validated as a whole, recorded durably, then applied to
// the live logs.
func (r *Registry) AlterConfigs(name string, ops []ConfigOp, replaceAll bool, validateOnly bool) error {
	r.admin.Lock()
	defer r.admin.Unlock()
	if r.closed {
		return ErrClosed
	}
	t := r.snap.Load().byName[name]
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	next, err := applyOps(*t.overrides.Load(), ops, replaceAll, r.defaults.Log)
	if err != nil {
		return err
	}
	if err := r.checkLogConfig(next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	rec := t.record()
	rec.Configs = next
	if err := r.store.PutTopic(rec); err != nil {
		return fmt.Errorf("topic: alter configs of %q: %w", name, err)
	}
	t.overrides.Store(&next)
	cfg := t.LogConfig()
	var errs []error
	for p, l := range *t.parts.Load() {
		c := cfg
		c.Logger = l.Config().Logger // keep the per-partition logger
		if err := l.SetConfig(c); err != nil {
			errs = append(errs, fmt.Errorf("topic: apply configs to partition %d of %q: %w", p, name, err))
		}
	}
	return errors.Join(errs...)
}

// retentionLoop runs retention over every log every
// Defaults.RetentionCheckInterval until Close.
func (r *Registry) retentionLoop() {
	defer close(r.done)
	tick := time.NewTicker(r.defaults.RetentionCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.runRetention()
		}
	}
}

// runRetention enforces retention on every partition once.
func (r *Registry) runRetention() {
	for _, t := range r.snap.Load().sorted {
		for p, l := range *t.parts.Load() {
			select {
			case <-r.stop:
				return
			default:
			}
			n, err := l.EnforceRetention()
			switch {
			case errors.Is(err, logstore.ErrClosed): // deleted meanwhile
			case err != nil:
				r.logger.Warn("topic: retention failed", "topic", t.name, "partition", p, "err", err)
			case n > 0:
				r.logger.Info("topic: retention deleted segments", "topic", t.name, "partition", p, "segments", n)
			}
		}
	}
}

// Sync fsyncs every partition log.
func (r *Registry) Sync() error {
	var errs []error
	for _, t := range r.snap.Load().sorted {
		for _, l := range *t.parts.Load() {
			if err := l.Sync(); err != nil && !errors.Is(err, logstore.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Close stops the retention goroutine and closes every log (logstore's
// Close flushes and fsyncs). It is idempotent. It does not close the
// metastore, which the caller owns.
func (r *Registry) Close() error {
	r.admin.Lock()
	defer r.admin.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	close(r.stop)
	<-r.done
	var errs []error
	for _, t := range r.snap.Load().sorted {
		errs = append(errs, closeLogs(*t.parts.Load()))
	}
	return errors.Join(errs...)
}
