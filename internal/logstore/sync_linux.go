package logstore

import (
	"os"
	"syscall"
	"time"
)

// fdatasync flushes a file's data and the metadata needed to read it back
// (its size), which is all a log needs; it skips timestamps.
func fdatasync(f *os.File) error {
	defer observeFsync(time.Now())
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
