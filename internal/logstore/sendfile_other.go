//go:build !linux

package logstore

import (
	"net"
	"os"
)

func sendfile(*net.TCPConn, *os.File, int64, int64) (int64, bool, error) { return 0, false, nil }
