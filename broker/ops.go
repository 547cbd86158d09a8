package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice/internal/alert"
	"github.com/sluice-mq/sluice/internal/metrics"
	"github.com/sluice-mq/sluice/internal/web"
	"github.com/sluice-mq/sluice/internal/web/ui"
)

// ops holds the broker's operations side: Prometheus instrumentation, the
// alert engine, and what the web server needs. Built by Start, before any
// listener; the alert engine's goroutines are stopped by Close.
type ops struct {
	started  time.Time
	kafka    *metrics.Kafka
	sqs      *metrics.SQS
	alerts   *alert.Engine
	registry *prometheus.Registry
}

// setupOps builds the instrumentation and the alert engine. Called by
// Start with b.mu held.
func (b *Broker) setupOps() error {
	o := &ops{started: time.Now(), kafka: metrics.NewKafka(b.topics), sqs: metrics.NewSQS()}
	o.alerts = alert.New(alert.Config{
		Settings: b.settings.ops.alerts, Queues: b.queues, Groups: b.groups,
		ClusterID: b.meta.ClusterID(), Logger: b.logger,
	})
	reg, err := metrics.NewRegistry(metrics.NewState(b.topics, b.groups, b.queues, o.kafka), o.kafka, o.sqs, o.alerts)
	if err != nil {
		return err
	}
	o.registry = reg
	metrics.InstallFsyncObserver()
	b.ops = o
	return nil
}

// webConfig is the HTTP server's configuration. Called with b.mu held.
func (b *Broker) webConfig() web.Config {
	st := b.settings.ops
	return web.Config{
		Logger: b.logger,
		Topics: b.topics, Groups: b.groups, Queues: b.queues,
		Kafka: b.ops.kafka, Alerts: b.ops.alerts, Gatherer: b.ops.registry,
		Info: func() web.Info {
			a := b.Addrs()
			return web.Info{
				ClusterID: b.meta.ClusterID(), DataDir: b.cfg.DataDir, Started: b.ops.started,
				Kafka: a.Kafka, SQS: a.SQS, HTTP: a.HTTP,
			}
		},
		Auth: web.Auth{
			Token: st.authToken, BasicUser: st.basicUser, BasicPassword: st.basicPassword,
			Metrics: st.authMetrics,
		},
		UI:              ui.Handler(),
		HistoryInterval: st.historyInterval,
		HistoryWindow:   st.historyWindow,
	}
}

// Metrics returns the broker's Prometheus registry (the same metrics as
// /metrics), for programs that embed the broker and expose their own
// endpoint. Nil before Start.
func (b *Broker) Metrics() prometheus.Gatherer {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ops == nil {
		return nil
	}
	return b.ops.registry
}
