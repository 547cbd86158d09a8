//go:build !unix

package broker

import (
	"errors"
	"os"
)

func lockDataDir(dir string) (*os.File, error) {
	return nil, errors.New("broker: locking the data directory is not supported on this platform")
}

func unlockDataDir(f *os.File) error { return f.Close() }
