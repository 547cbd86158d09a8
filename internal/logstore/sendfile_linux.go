package logstore

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sendfile copies size bytes of src at pos to dst in the kernel. It
// passes an explicit offset, so src's file offset is neither used nor
// moved (unlike net.TCPConn.ReadFrom). handled is false when the
// connection cannot be used this way and the caller should copy.
func sendfile(dst *net.TCPConn, src *os.File, pos, size int64) (written int64, handled bool, err error) {
	dc, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	sc, err := src.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var werr error
	cerr := sc.Control(func(sfd uintptr) {
		err := dc.Write(func(dfd uintptr) bool {
			for written < size {
				off := pos + written
				n, e := syscall.Sendfile(int(dfd), int(sfd), &off, int(min(size-written, 1<<30)))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case e == syscall.EAGAIN:
					return false // wait until the socket is writable
				case e == syscall.EINTR:
				case e != nil:
					werr = os.NewSyscallError("sendfile", e)
					return true
				case n == 0:
					werr = io.ErrUnexpectedEOF // the file is shorter than the Chunk
					return true
				}
			}
			return true
		})
		if werr == nil {
			werr = err
		}
	})
	if werr == nil {
		werr = cerr
	}
	return written, true, werr
}
