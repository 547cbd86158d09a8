package queue

import (
	"math/rand/v2"
	"testing"
)

// TestDeletedSetAgainstModel checks the bitmap (floor, bits, count, runs)
// against a plain set under random out-of-order adds, range adds and
// floor raises.
func TestDeletedSetAgainstModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		d := newDeletedSet(int64(rng.IntN(100)))
		model := map[int64]bool{}
		for o := int64(0); o < d.floor; o++ {
			model[o] = true
		}
		const span = 2000
		for range 3000 {
			switch op := rng.IntN(20); {
			case op < 16:
				o := int64(rng.IntN(span))
				if got, want := d.add(o), !model[o]; got != want {
					t.Fatalf("round %d: add(%d) = %v, want %v", round, o, got, want)
				}
				model[o] = true
			case op < 19:
				lo := int64(rng.IntN(span))
				hi := lo + int64(rng.IntN(200))
				d.addRange(lo, hi)
				for o := lo; o < hi; o++ {
					model[o] = true
				}
			default:
				f := int64(rng.IntN(span / 2))
				d.raiseFloor(f)
				for o := int64(0); o < f; o++ {
					model[o] = true
				}
			}
		}
		floor := int64(0)
		for model[floor] {
			floor++
		}
		if d.floor != floor {
			t.Fatalf("round %d: floor %d, want %d", round, d.floor, floor)
		}
		var count int64
		for o := range int64(span + 300) {
			if d.has(o) != model[o] {
				t.Fatalf("round %d: has(%d) = %v", round, o, d.has(o))
			}
			if o >= floor && model[o] {
				count++
			}
		}
		if d.count != count {
			t.Fatalf("round %d: count %d, want %d", round, d.count, count)
		}
		var fromRuns int64
		prev := int64(-1)
		d.runs(func(start, n int64) {
			if start <= prev || n <= 0 {
				t.Fatalf("round %d: runs out of order or not maximal at %d", round, start)
			}
			for o := start; o < start+n; o++ {
				if !model[o] {
					t.Fatalf("round %d: run covers live offset %d", round, o)
				}
			}
			prev = start + n
			fromRuns += n
		})
		if fromRuns != count {
			t.Fatalf("round %d: runs cover %d, want %d", round, fromRuns, count)
		}
	}
}
