package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// fsyncSeconds is process-wide because the logstore hook is: every broker
// in the process (tests run several) registers the same histogram, so each
// registry shows the fsyncs of the process.
var fsyncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: Namespace, Name: "log_fsync_duration_seconds",
	Help:    "Time taken by the fdatasync calls that make partition and queue logs durable.",
	Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
})

var installFsync sync.Once

// InstallFsyncObserver routes logstore's fsync timings into
// sluice_log_fsync_duration_seconds. Idempotent.
func InstallFsyncObserver() {
	installFsync.Do(func() {
		logstore.SetFsyncObserver(func(d time.Duration) { fsyncSeconds.Observe(d.Seconds()) })
	})
}
