package sluice

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// workerMetrics are a Worker's Prometheus series, all with the constant label worker=<Name> so
// that several workers can share one Registerer. Without a Registerer they are still updated
// (cheaply) but exported nowhere.
//
//	sluice_worker_messages_processed_total     handler succeeded and the message was acknowledged
//	sluice_worker_handler_failures_total       handler runs that returned an error (each attempt)
//	sluice_worker_messages_retried_total       failed messages scheduled for another attempt
//	sluice_worker_messages_dead_lettered_total messages moved to the dead-letter destination
//	sluice_worker_handler_duration_seconds     handler latency (per message, or per batch call)
//	sluice_worker_concurrency                  handler goroutines currently allowed
//	sluice_worker_in_flight                    messages fetched and not yet settled
//	sluice_worker_backlog_depth                the Source's depth/lag at the last reading
//	sluice_worker_backlog_oldest_age_seconds   the oldest waiting message's age (0: unknown)
//	sluice_worker_scale_decisions_total{direction="up"|"down"}
//	sluice_worker_breaker_state                0 closed, 1 half-open, 2 open
type workerMetrics struct {
	processed, failed, retried, deadLettered prometheus.Counter
	latency                                  prometheus.Histogram
	concurrency, inFlight                    prometheus.Gauge
	backlogDepth, backlogAge                 prometheus.Gauge
	scaleUp, scaleDown                       prometheus.Counter
	breaker                                  prometheus.Gauge
}

func newWorkerMetrics(name string, reg prometheus.Registerer) (*workerMetrics, error) {
	labels := prometheus.Labels{"worker": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "worker", Name: n, Help: help, ConstLabels: labels})
	}
	gauge := func(n, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "worker", Name: n, Help: help, ConstLabels: labels})
	}
	scale := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "worker", Name: "scale_decisions_total",
		Help: "Autoscaling changes of the worker's concurrency.", ConstLabels: labels}, []string{"direction"})
	m := &workerMetrics{
		processed:    counter("messages_processed_total", "Messages handled successfully and acknowledged."),
		failed:       counter("handler_failures_total", "Handler runs that returned an error."),
		retried:      counter("messages_retried_total", "Failed messages scheduled for another attempt."),
		deadLettered: counter("messages_dead_lettered_total", "Messages moved to the dead-letter destination."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "worker", Name: "handler_duration_seconds",
			Help: "Handler run time.", ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}),
		concurrency:  gauge("concurrency", "Handler goroutines currently allowed."),
		inFlight:     gauge("in_flight", "Messages fetched and not yet settled."),
		backlogDepth: gauge("backlog_depth", "The source's depth or lag at the last reading."),
		backlogAge:   gauge("backlog_oldest_age_seconds", "Age of the oldest waiting message at the last reading (0: unknown)."),
		scaleUp:      scale.WithLabelValues("up"),
		scaleDown:    scale.WithLabelValues("down"),
		breaker:      gauge("breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open."),
	}
	if reg == nil {
		return m, nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.processed, m.failed, m.retried, m.deadLettered, m.latency,
		m.concurrency, m.inFlight, m.backlogDepth, m.backlogAge, scale, m.breaker} {
		if err := reg.Register(c); err != nil {
			for _, d := range done { // leave the Registerer as it was
				reg.Unregister(d)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: Registerer already has a worker named %q (set WorkerConfig.Name): %v", ErrWorkerConfig, name, err)
			}
			return nil, fmt.Errorf("%w: register metrics: %v", ErrWorkerConfig, err)
		}
		done = append(done, c)
	}
	return m, nil
}
