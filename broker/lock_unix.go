//go:build unix

package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFileName is the lock file inside the data directory. It holds the
// PID of the process that has the lock, for the error message only: the
// lock itself is an flock(2), which the kernel releases when the process
// dies, so a crash never leaves a stale lock behind.
const lockFileName = "LOCK"

// lockDataDir takes an exclusive, non-blocking flock on <dir>/LOCK. A
// second holder (another process, or another Open in this one) fails at
// once with ErrDataDirInUse.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &DataDirInUseError{Dir: dir, Holder: holder}
		}
		return nil, fmt.Errorf("broker: lock %s: %w", path, err)
	}
	// Record our PID for the next one who finds the directory locked.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlockDataDir releases the lock. The file stays: removing it would let
// a process that opened it before the removal lock a file nobody else sees.
func unlockDataDir(f *os.File) error {
	f.Truncate(0)
	return f.Close() // closing the last descriptor releases the flock
}
