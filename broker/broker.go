package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/kafka"
	"github.com/sluice-mq/sluice/internal/metastore"
	"github.com/sluice-mq/sluice/internal/queue"
	"github.com/sluice-mq/sluice/internal/sqs"
	"github.com/sluice-mq/sluice/internal/topic"
	"github.com/sluice-mq/sluice/internal/web"
)

// Errors. Typed errors wrap these sentinels; test with errors.Is.
var (
	// ErrDataDirInUse: another Broker (in this or another process) holds
	// the data directory.
	ErrDataDirInUse = errors.New("broker: data directory in use")
	// ErrClosed: the broker was closed.
	ErrClosed = errors.New("broker: closed")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("broker: already started")
)

// DataDirInUseError reports that the data directory is locked.
type DataDirInUseError struct {
	Dir    string
	Holder string // " (pid N)" when known
}

func (e *DataDirInUseError) Error() string {
	return fmt.Sprintf("broker: data directory %s is in use by another sluice process%s", e.Dir, e.Holder)
}

// Unwrap returns ErrDataDirInUse.
func (e *DataDirInUseError) Unwrap() error { return ErrDataDirInUse }

// Addrs are the addresses a started broker listens on ("" when disabled or
// not started).
type Addrs struct {
	Kafka, SQS, HTTP string
}

// Broker is one running broker over one data directory.
type Broker struct {
	cfg      Config
	settings settings
	logger   *slog.Logger

	lock   *os.File
	meta   *metastore.Store
	topics *topic.Registry
	queues *queue.Manager
	groups *group.Coordinator // consumer groups, committed offsets (<DataDir>/groups)

	mu      sync.Mutex // guards the fields below
	started bool
	closed  bool
	addrs   Addrs
	kafka   *kafka.Server
	sqs     *sqs.Server
	web     *web.Server
	ops     *ops           // metrics and alerts (ops.go), built by Start
	serving sync.WaitGroup // one goroutine per Serve call

	closeOnce sync.Once
	closeErr  error
}

// Open validates cfg, locks the data directory and opens the storage:
// the metastore and every partition log (recovering their tails). It does
// not listen; call Start. Close releases everything.
func Open(cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	for _, a := range []struct{ field, addr string }{{"KafkaAddr", cfg.KafkaAddr}, {"SQSAddr", cfg.SQSAddr}, {"HTTPAddr", cfg.HTTPAddr}} {
		if err := checkAddr(a.field, a.addr); err != nil {
			return nil, err
		}
	}
	st, err := resolveSettings(cfg.Settings)
	if err != nil {
		return nil, err
	}
	if st.topics.Log.Logger == nil {
		st.topics.Log.Logger = cfg.Logger
	}
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if err := createDir(cfg.DataDir); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, settings: st, logger: cfg.Logger}
	if b.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if b.meta, err = metastore.Open(filepath.Join(cfg.DataDir, "meta")); err != nil {
		unlockDataDir(b.lock)
		return nil, fmt.Errorf("broker: %w", err)
	}
	if b.topics, err = topic.Open(cfg.DataDir, b.meta, st.topics, cfg.Logger); err != nil {
		b.meta.Close()
		unlockDataDir(b.lock)
		return nil, fmt.Errorf("broker: %w", err)
	}
	if b.queues, err = queue.Open(queue.Config{DataDir: cfg.DataDir, Meta: b.meta, Logger: cfg.Logger}); err != nil {
		b.topics.Close()
		b.meta.Close()
		unlockDataDir(b.lock)
		return nil, fmt.Errorf("broker: %w", err)
	}
	gcfg := st.groups
	gcfg.Dir, gcfg.Topics, gcfg.Logger = filepath.Join(cfg.DataDir, "groups"), b.topics, cfg.Logger
	if b.groups, err = group.Open(gcfg); err != nil {
		b.queues.Close()
		b.topics.Close()
		b.meta.Close()
		unlockDataDir(b.lock)
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.logger.Info("broker: opened data directory", "dir", cfg.DataDir, "cluster_id", b.meta.ClusterID(), "topics", len(b.topics.List()))
	return b, nil
}

// createDir creates the data directory if needed, durably (the parent is
// fsynced so the new entry survives a crash).
func createDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("broker: data directory %s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("broker: create data directory: %w", err)
	}
	d, err := os.Open(filepath.Dir(dir))
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("broker: fsync %s: %w", filepath.Dir(dir), err)
	}
	return nil
}

// Start binds the configured listeners and serves them in the background.
// If one address cannot be bound, none stays bound and the error names the
// Config field. Start may be called once.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return ErrStarted
	}
	if err := b.setupOps(); err != nil {
		return err
	}
	var lns []net.Listener
	listen := func(field, addr string) (net.Listener, error) {
		if addr == Disabled {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("broker: listen on %s (Config.%s): %w", addr, field, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	kln, err := listen("KafkaAddr", b.cfg.KafkaAddr)
	if err != nil {
		return err
	}
	hln, err := listen("HTTPAddr", b.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	sln, err := listen("SQSAddr", b.cfg.SQSAddr)
	if err != nil {
		return err
	}
	b.started = true

	if hln != nil {
		b.web = web.NewServer(b.webConfig())
		b.addrs.HTTP = hln.Addr().String()
		b.serve("http", func() error {
			if err := b.web.Serve(hln); !errors.Is(err, web.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if kln != nil {
		b.kafka = kafka.NewServer(kafka.Config{
			Topics:            b.topics,
			Meta:              b.meta,
			NodeID:            0,
			AutoCreateTopics:  b.settings.autoCreateTopics,
			DefaultPartitions: b.settings.defaultPartitions,
			MaxRequestBytes:   b.settings.maxRequestBytes,
			Logger:            b.logger,
			Groups:            b.groups,
			Observer:          b.ops.kafka,
		})
		b.addrs.Kafka = kln.Addr().String()
		b.serve("kafka", func() error {
			if err := b.kafka.Serve(kln); !errors.Is(err, kafka.ErrServerClosed) {
				return err
			}
			return nil
		})
		b.logger.Info("broker: serving Kafka", "addr", b.addrs.Kafka)
	}
	if sln != nil {
		b.sqs = sqs.NewServer(sqs.Config{Queues: b.queues, Logger: b.logger, Observer: b.ops.sqs})
		b.addrs.SQS = sln.Addr().String()
		b.serve("sqs", func() error {
			if err := b.sqs.Serve(sln); !errors.Is(err, sqs.ErrServerClosed) {
				return err
			}
			return nil
		})
		b.logger.Info("broker: serving SQS", "addr", b.addrs.SQS)
	}
	if b.web != nil {
		b.logger.Info("broker: serving HTTP", "addr", b.addrs.HTTP)
		b.web.SetReady(true)
	}
	b.ops.alerts.Start()
	return nil
}

// serve runs fn in a goroutine owned by the broker; Close waits for it.
func (b *Broker) serve(name string, fn func() error) {
	b.serving.Go(func() {
		if err := fn(); err != nil {
			b.logger.Error("broker: listener stopped", "listener", name, "err", err)
		}
	})
}

// Addrs returns the bound addresses; with port 0 in Config these carry the
// ports the system picked.
func (b *Broker) Addrs() Addrs {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs
}

// Queues returns the SQS queue engine (create, list, stats, peek).
func (b *Broker) Queues() *queue.Manager { return b.queues }

// Topics returns the live topic registry (create, delete, list, configs).
func (b *Broker) Topics() *topic.Registry { return b.topics }

// Groups returns the consumer-group coordinator: groups, their committed
// offsets and lag (Coordinator.Lag).
func (b *Broker) Groups() *group.Coordinator { return b.groups }

// ClusterID returns the cluster ID stored in the data directory.
func (b *Broker) ClusterID() string { return b.meta.ClusterID() }

// DataDir returns the absolute path of the data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Close stops the listeners and closes client connections, then fsyncs and
// closes every log and the metastore, and releases the data-directory
// lock. It is idempotent and safe to call concurrently; every call returns
// the first call's result.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		ks, ss, ws, o := b.kafka, b.sqs, b.web, b.ops
		b.mu.Unlock()

		var errs []error
		if ws != nil {
			ws.SetReady(false)
		}
		if ks != nil {
			errs = append(errs, ks.Close())
		}
		if ss != nil {
			errs = append(errs, ss.Close())
		}
		if ws != nil {
			errs = append(errs, ws.Close())
		}
		b.serving.Wait()
		if o != nil {
			errs = append(errs, o.alerts.Close()) // it reads queues and groups
		}
		errs = append(errs, b.groups.Close(), b.queues.Close(), b.topics.Sync(), b.topics.Close(), b.meta.Close(), unlockDataDir(b.lock))
		b.closeErr = errors.Join(errs...)
		if b.closeErr != nil {
			b.logger.Error("broker: close", "err", b.closeErr)
		} else {
			b.logger.Info("broker: closed", "dir", b.cfg.DataDir)
		}
	})
	return b.closeErr
}
