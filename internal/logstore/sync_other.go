//go:build !linux

package logstore

import (
	"os"
	"time"
)

func fdatasync(f *os.File) error {
	defer observeFsync(time.Now())
	return f.Sync()
}
