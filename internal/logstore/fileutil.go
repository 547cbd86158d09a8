package logstore

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// syncDir fsyncs a directory so that entries created or renamed in it
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("logstore: fsync %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("logstore: write %s: %w", path, err)
	}
	return syncDir(dir)
}
