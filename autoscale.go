package sluice

import (
	"context"
	"fmt"
	"time"
)

// AutoscaleConfig lets the worker grow and shrink its concurrency between Min and Max from the
// Source's Backlog. Every Interval the worker reads the backlog; it scales up when the depth
// reaches ScaleUpDepth or the oldest message is older than ScaleUpAge, down when the depth is at
// or below ScaleDownDepth (and the age, if known, under ScaleUpAge), at most once per Cooldown.
type AutoscaleConfig struct {
	// Min and Max bound the concurrency (defaults 1 and WorkerConfig.Concurrency or 4·Min).
	Min, Max int
	// Interval between backlog readings (default 5s).
	Interval time.Duration
	// Cooldown is the least time between two changes (default 3·Interval).
	Cooldown time.Duration
	// ScaleUpDepth: depth at or above which the pool grows (default 100).
	ScaleUpDepth int64
	// ScaleDownDepth: depth at or below which the pool shrinks (default 0).
	ScaleDownDepth int64
	// ScaleUpAge: the pool also grows when the oldest waiting message is older (default 0: off).
	ScaleUpAge time.Duration
	// Step is how many workers one decision adds or removes (default: grow ×2, shrink ÷2,
	// i.e. 0 means multiplicative).
	Step int
	// OnDecision, if set, is called with every change (also logged and counted in metrics), on
	// the worker's backlog goroutine: return quickly.
	OnDecision func(ScaleDecision)
}

// ScaleDecision is one autoscaling change.
type ScaleDecision struct {
	Time     time.Time
	From, To int
	Backlog  Backlog
	Reason   string // e.g. "depth 250 >= 100"
}

// backlogLoop reads the source's backlog every interval for metrics and Stats and, with
// Autoscale, decides on the concurrency. It ends when ctx ends (shutdown starts).
func (w *Worker) backlogLoop(ctx context.Context) {
	interval := 10 * time.Second
	if w.cfg.Autoscale != nil {
		interval = w.cfg.Autoscale.Interval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		b, err := w.src.Backlog(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.log.Debug("sluice: backlog reading failed", "err", err)
		default:
			w.backlog.Store(&b)
			w.met.backlogDepth.Set(float64(b.Depth))
			w.met.backlogAge.Set(b.OldestAge.Seconds())
			if w.cfg.Autoscale != nil {
				w.autoscale(b, time.Now())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// autoscale applies one reading: grow under a deep or old backlog, shrink when it is shallow,
// at most once per Cooldown, within Min..Max.
func (w *Worker) autoscale(b Backlog, now time.Time) {
	a := w.cfg.Autoscale
	// Only the backlog goroutine changes the limit, so reading it, deciding and setting it
	// need no lock beyond the semaphore's own.
	if !w.lastChange.IsZero() && now.Sub(w.lastChange) < a.Cooldown {
		return
	}
	cur := w.sem.getLimit()
	old := a.ScaleUpAge > 0 && b.OldestAge >= a.ScaleUpAge
	to, reason := cur, ""
	switch {
	case (b.Depth >= a.ScaleUpDepth || old) && cur < a.Max:
		to = cur * 2
		if a.Step > 0 {
			to = cur + a.Step
		}
		to = min(max(to, cur+1), a.Max)
		if old {
			reason = fmt.Sprintf("oldest message age %s >= %s", b.OldestAge.Round(time.Millisecond), a.ScaleUpAge)
		} else {
			reason = fmt.Sprintf("depth %d >= %d", b.Depth, a.ScaleUpDepth)
		}
	case b.Depth <= a.ScaleDownDepth && !old && cur > a.Min:
		to = cur / 2
		if a.Step > 0 {
			to = cur - a.Step
		}
		to = max(min(to, cur-1), a.Min)
		reason = fmt.Sprintf("depth %d <= %d", b.Depth, a.ScaleDownDepth)
	default:
		return
	}
	w.lastChange = now
	w.sem.setLimit(to)
	w.met.concurrency.Set(float64(to))
	if to > cur {
		w.scaleUps.Add(1)
		w.met.scaleUp.Inc()
	} else {
		w.scaleDowns.Add(1)
		w.met.scaleDown.Inc()
	}
	d := ScaleDecision{Time: now, From: cur, To: to, Backlog: b, Reason: reason}
	w.log.Info("sluice: autoscale", "from", cur, "to", to, "reason", reason, "depth", b.Depth, "oldest_age", b.OldestAge)
	if a.OnDecision != nil {
		a.OnDecision(d)
	}
}
