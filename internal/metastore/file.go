package metastore

// File format of every metastore file
// ===================================
//
// Small durable state (the cluster ID, the topic catalog, the producer-ID
// high-water mark) lives in a few files under <data-dir>/meta. Each file is
// one frame, written whole and replaced atomically:
//
//	offset  size  field
//	0       4     magic "SLMS" (Sluice MetaStore)
//	4       2     format version, big-endian uint16 (currently 1)
//	6       2     kind, big-endian uint16 (1 cluster, 2 topics, 3 producer IDs);
//	              catches a file copied under the wrong name
//	8       4     payload length N, big-endian uint32 (at most maxPayload)
//	12      N     payload: UTF-8 JSON, one object whose shape depends on kind
//	              (see store.go)
//	12+N    4     CRC-32C (Castagnoli) of bytes [0, 12+N), big-endian
//
// Nothing may follow the checksum. A file that is short, has the wrong
// magic, an unknown version, the wrong kind, a length that does not match
// the file size or a bad checksum is corrupt: Open fails with a
// *CorruptError naming the file, and the operator decides (Sluice never
// guesses which topics existed).
//
// Replacement: the new frame is written to "<name>.tmp", fsynced, renamed
// over "<name>", and the directory is fsynced so the rename itself is
// durable. A crash leaves either the old or the new file in place plus,
// perhaps, a torn ".tmp" file, which Open deletes without reading.
//
// JSON is used for the payload because the state is small, rarely written
// and read by humans during incidents; the binary frame around it gives the
// integrity check JSON lacks.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	fileMagic   = "SLMS"
	fileVersion = 1
	headerSize  = 12
	trailerSize = 4
	// maxPayload bounds what Open will allocate for one file: a catalog of
	// 100,000 topics with configs is a few tens of MiB at most.
	maxPayload = 256 << 20
	tmpSuffix  = ".tmp"
)

// fileKind identifies what a frame holds.
type fileKind uint16

const (
	kindCluster     fileKind = 1
	kindTopics      fileKind = 2
	kindProducerIDs fileKind = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeFrame builds the bytes of one file.
func encodeFrame(kind fileKind, payload []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(payload)+trailerSize)
	copy(b[0:4], fileMagic)
	binary.BigEndian.PutUint16(b[4:6], fileVersion)
	binary.BigEndian.PutUint16(b[6:8], uint16(kind))
	binary.BigEndian.PutUint32(b[8:12], uint32(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeFrame checks a whole file and returns its payload. The error is a
// bare reason; readFrame wraps it with the path.
func decodeFrame(kind fileKind, b []byte) ([]byte, error) {
	if len(b) < headerSize+trailerSize {
		return nil, fmt.Errorf("file is %d bytes, shorter than the %d-byte minimum", len(b), headerSize+trailerSize)
	}
	if string(b[0:4]) != fileMagic {
		return nil, fmt.Errorf("bad magic %q (want %q)", b[0:4], fileMagic)
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != fileVersion {
		return nil, fmt.Errorf("unsupported format version %d (this build reads %d)", v, fileVersion)
	}
	if k := fileKind(binary.BigEndian.Uint16(b[6:8])); k != kind {
		return nil, fmt.Errorf("file holds kind %d, expected kind %d", k, kind)
	}
	n := binary.BigEndian.Uint32(b[8:12])
	if n > maxPayload || int64(len(b)) != int64(headerSize)+int64(n)+trailerSize {
		return nil, fmt.Errorf("payload length %d does not match file size %d", n, len(b))
	}
	end := headerSize + int(n)
	want := binary.BigEndian.Uint32(b[end:])
	if got := crc32.Checksum(b[:end], castagnoli); got != want {
		return nil, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	return b[headerSize:end], nil
}

// readFrame reads and checks one file. A missing file returns (nil, nil).
func readFrame(path string, kind fileKind) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metastore: read %s: %w", path, err)
	}
	payload, err := decodeFrame(kind, b)
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	return payload, nil
}

// writeFrameAtomic replaces path with a frame holding payload: temp file,
// fsync, rename, fsync of the directory. When it returns nil the new content
// survives a crash; when it fails the old content is still in place.
func writeFrameAtomic(path string, kind fileKind, payload []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("metastore: create %s: %w", tmp, err)
	}
	_, werr := f.Write(encodeFrame(kind, payload))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("metastore: write %s: %w", tmp, werr)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("metastore: rename %s: %w", tmp, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("metastore: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("metastore: fsync dir %s: %w", dir, err)
	}
	return nil
}
