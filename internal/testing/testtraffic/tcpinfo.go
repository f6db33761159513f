package testtraffic

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// TCPInfo returns the kernel's TCP_INFO of conn: what its TCP sent and
// retransmitted, its segment size.
func TCPInfo(conn *net.TCPConn) (*unix.TCPInfo, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var info *unix.TCPInfo
	var infoErr error
	if err := raw.Control(func(fd uintptr) {
		info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, err
	}
	if infoErr != nil {
		return nil, fmt.Errorf("TCP_INFO: %w", infoErr)
	}
	return info, nil
}
