package web

import (
	"math"
	"testing"
	"time"
)

func TestHistoryRing(t *testing.T) {
	h := newHistory(10*time.Second, time.Minute, 100) // 6 points per series
	if h.size != 6 {
		t.Fatalf("size = %d", h.size)
	}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		vals := map[string]float64{"queue:a:visible": float64(i)}
		if i >= 8 {
			vals["queue:b:visible"] = 100 + float64(i) // b appears late
		}
		h.record(t0.Add(time.Duration(i)*10*time.Second), vals, nil)
	}
	pts := h.pointsLocked(h.series["queue:a:visible"], 0)
	if len(pts) != 6 {
		t.Fatalf("kept %d points, want the last 6", len(pts))
	}
	for i, p := range pts {
		wantTs := t0.Add(time.Duration(4+i) * 10 * time.Second).UnixMilli()
		if int64(p[0]) != wantTs || p[1] != float64(4+i) {
			t.Fatalf("point %d = %v, want [%d %d] (oldest first)", i, p, wantTs, 4+i)
		}
	}
	if pts := h.pointsLocked(h.series["queue:b:visible"], 0); len(pts) != 2 || pts[0][1] != 108 {
		t.Fatalf("late series = %v (no points before it existed)", pts)
	}
	since := t0.Add(80 * time.Second).UnixMilli()
	if pts := h.pointsLocked(h.series["queue:a:visible"], since); len(pts) != 1 || pts[0][1] != 9 {
		t.Fatalf("since = %v", pts)
	}
	// A series missing from a sample is gone (its queue was deleted).
	h.record(t0.Add(100*time.Second), map[string]float64{"queue:b:visible": 1}, nil)
	if _, ok := h.series["queue:a:visible"]; ok {
		t.Fatal("series of a deleted queue kept")
	}
}

func TestHistoryRateAndLimit(t *testing.T) {
	h := newHistory(10*time.Second, time.Hour, 3)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 12 { // 2 minutes: 100 records per 10 s
		h.record(t0.Add(time.Duration(i)*10*time.Second), nil, map[string]float64{"topic:t:end": float64(100 * i)})
	}
	now := t0.Add(115 * time.Second)
	// The oldest sample within the last minute is at 60 s (600); now the
	// counter is 1150.
	if got := h.rate("topic:t:end", 1150, now); math.Abs(got-550.0/55) > 1e-9 {
		t.Fatalf("rate = %v, want %v", got, 550.0/55)
	}
	if got := h.rate("topic:t:end", 10, now); got != 0 { // counter restarted
		t.Fatalf("rate after a reset = %v", got)
	}
	if got := h.rate("unknown", 5, now); got != 0 {
		t.Fatalf("rate of an unknown counter = %v", got)
	}
	// MaxSeries bounds new series.
	full := h.record(now, map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4}, map[string]float64{"topic:t:end": 1200})
	if full || len(h.series)+len(h.counter) != 3 {
		t.Fatalf("series kept = %d + %d (full %v), want 3", len(h.series), len(h.counter), full)
	}
}
