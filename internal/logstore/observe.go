package logstore

import (
	"sync/atomic"
	"time"
)

// fsyncObserver, when set, receives the duration of every fdatasync the
// package makes (group commits, segment rolls, Sync, recovery). It is
// process-wide because a metrics histogram is; loading it is one atomic
// read and calling it allocates nothing.
var fsyncObserver atomic.Pointer[func(time.Duration)]

// SetFsyncObserver installs fn (nil removes it). fn must be fast and safe
// for concurrent use: it runs on the commit path after each fsync.
func SetFsyncObserver(fn func(time.Duration)) {
	if fn == nil {
		fsyncObserver.Store(nil)
		return
	}
	fsyncObserver.Store(&fn)
}

// observeFsync reports an fsync that started at start.
func observeFsync(start time.Time) {
	if fn := fsyncObserver.Load(); fn != nil {
		(*fn)(time.Since(start))
	}
}
