package logstore

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
)

// ErrReleased is returned when a Chunk is used after Release.
var ErrReleased = errors.New("logstore: chunk used after Release")

// Release drops the Chunk's hold on its file. It is idempotent and safe on
// a zero Chunk; copies of a Chunk share one hold, so release only one.
func (c *Chunk) Release() {
	if c.seg != nil {
		c.seg.release()
		c.seg = nil
		c.File = nil
	}
}

// AppendTo reads the Chunk's bytes (pread) onto dst.
func (c *Chunk) AppendTo(dst []byte) ([]byte, error) {
	if c.Size == 0 {
		return dst, nil
	}
	if c.File == nil {
		return dst, ErrReleased
	}
	n := len(dst)
	dst = slices.Grow(dst, int(c.Size))[:n+int(c.Size)]
	if _, err := c.File.ReadAt(dst[n:], c.Pos); err != nil {
		return dst[:n], fmt.Errorf("logstore: read %s: %w", c.File.Name(), err)
	}
	return dst, nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// WriteTo writes the Chunk's bytes to w: with sendfile(2) from the file at
// the Chunk's position, without copying through user space, when w is a
// *net.TCPConn (on Linux), else by pread through a pooled buffer. Either
// way the file's own offset is untouched, so Chunks of one file can be
// sent concurrently.
func (c *Chunk) WriteTo(w io.Writer) (int64, error) {
	if c.Size == 0 {
		return 0, nil
	}
	if c.File == nil {
		return 0, ErrReleased
	}
	if tc, ok := w.(*net.TCPConn); ok {
		n, handled, err := sendfile(tc, c.File, c.Pos, c.Size)
		if handled {
			return n, err
		}
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var written int64
	for written < c.Size {
		k := min(int64(len(buf)), c.Size-written)
		if _, err := c.File.ReadAt(buf[:k], c.Pos+written); err != nil {
			return written, fmt.Errorf("logstore: read %s: %w", c.File.Name(), err)
		}
		n, err := w.Write(buf[:k])
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
