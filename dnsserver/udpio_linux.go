package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched UDP on Linux: recvmmsg and sendmmsg issued as raw system calls
// on the non-blocking socket, waiting in Go's network poller when the
// socket is empty (or full).
//
// Why raw: every syscall.Syscall enters the scheduler's "in a system call"
// state, and when the process has just been idle that entry wakes the
// runtime's monitor thread (sysmon) with a futex, which then polls every
// 20µs for a while. At a moderate query rate the server is idle between
// most queries, so every query paid one or two extra thread wake-ups and
// context switches: the p99 at 20,000 queries/s was 1.6-1.8x NSD's, and
// a bare Go echo server showed the same gap. A non-blocking recvmmsg or
// sendmmsg never blocks, so it has no need of that state: issued with
// RawSyscall the same loop answers with NSD's p99 (see
// docs/performance.md). The calls return in microseconds; a full batch
// of 32 datagrams is the longest they hold the thread.

// mmsghdr is the kernel's struct mmsghdr. Go lays the struct out as C
// does: the trailing padding to pointer alignment is implied.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32 // bytes received or sent
}

// udpIO moves batches of datagrams on one UDP socket. Its buffers are
// allocated once and reused; it is used by one goroutine.
type udpIO struct {
	rc syscall.RawConn

	in    []mmsghdr
	inIov []unix.Iovec
	inBuf [][]byte
	inSa  []unix.RawSockaddrInet6 // large enough for IPv4 and IPv6 peers

	out    []mmsghdr
	outIov []unix.Iovec
	outBuf [][]byte // scratch space for replies, one per slot
	outSa  []unix.RawSockaddrInet6

	// recvFn and sendFn are the closures handed to RawConn; built once so
	// that a batch allocates nothing.
	recvFn, sendFn func(fd uintptr) bool
	got            int         // recvFn's result
	sendFrom       int         // sendFn's first message
	sendTo         int         // sendFn's end
	errno          unix.Errno  // the last call's error
	skipped        []sendError // datagrams sendmmsg refused in the last flush
}

// sendError is one reply the kernel refused to send.
type sendError struct {
	to  netip.AddrPort
	err error
}

const sizeofSockaddr = uint32(unsafe.Sizeof(unix.RawSockaddrInet6{}))

// newUDPIO prepares batches of size datagrams of up to bufSize bytes.
func newUDPIO(conn *net.UDPConn, size, bufSize int) (*udpIO, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp raw conn: %w", err)
	}
	b := &udpIO{
		rc:     rc,
		in:     make([]mmsghdr, size),
		inIov:  make([]unix.Iovec, size),
		inBuf:  make([][]byte, size),
		inSa:   make([]unix.RawSockaddrInet6, size),
		out:    make([]mmsghdr, size),
		outIov: make([]unix.Iovec, size),
		outBuf: make([][]byte, size),
		outSa:  make([]unix.RawSockaddrInet6, size),
	}
	for i := range size {
		b.inBuf[i] = make([]byte, bufSize)
		b.inIov[i].Base = &b.inBuf[i][0]
		b.inIov[i].SetLen(bufSize)
		b.in[i].hdr.Name = (*byte)(unsafe.Pointer(&b.inSa[i]))
		b.in[i].hdr.Iov = &b.inIov[i]
		b.in[i].hdr.SetIovlen(1)

		b.outBuf[i] = make([]byte, bufSize)
		b.out[i].hdr.Name = (*byte)(unsafe.Pointer(&b.outSa[i]))
		b.out[i].hdr.Iov = &b.outIov[i]
		b.out[i].hdr.SetIovlen(1)
	}
	b.recvFn = b.recvmmsg
	b.sendFn = b.sendmmsg
	return b, nil
}

// recvmmsg is the RawConn.Read callback: false means "empty, wait".
func (b *udpIO) recvmmsg(fd uintptr) bool {
	return rawCall(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)),
		unix.MSG_DONTWAIT, &b.got, &b.errno)
}

// sendmmsg is the RawConn.Write callback: false means "full, wait".
func (b *udpIO) sendmmsg(fd uintptr) bool {
	return rawCall(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[b.sendFrom])), uintptr(b.sendTo-b.sendFrom),
		unix.MSG_DONTWAIT, &b.got, &b.errno)
}

// rawCall makes a system call that cannot block (the socket is
// non-blocking) for a RawConn callback, without entering the runtime's
// syscall state. It retries on EINTR and returns false on EAGAIN, so
// that RawConn waits in the poller and calls again; otherwise it stores
// the result and the error (0 for none) and returns true. The buffers
// that the arguments point to are held by the caller's struct.
func rawCall(trap, fd, a2, a3, flags uintptr, n *int, errno *unix.Errno) bool {
	for {
		r, _, e := unix.RawSyscall6(trap, fd, a2, a3, flags, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		*n, *errno = int(r), e
		return true
	}
}

// read waits for at least one datagram and returns how many arrived
// (at most the batch size). The error wraps net.ErrClosed once the socket
// is closed.
func (b *udpIO) read() (int, error) {
	for i := range b.in {
		b.in[i].hdr.Namelen = sizeofSockaddr // the kernel overwrites it
	}
	if err := b.rc.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", b.errno)
	}
	return b.got, nil
}

// query returns datagram i of the last read and its sender.
func (b *udpIO) query(i int) ([]byte, netip.AddrPort) {
	n := min(int(b.in[i].n), len(b.inBuf[i]))
	return b.inBuf[i][:n], sockaddrAddrPort(&b.inSa[i], b.in[i].hdr.Namelen)
}

// scratch returns reply slot k's buffer, for building a reply in.
func (b *udpIO) scratch(k int) []byte { return b.outBuf[k] }

// setReply queues msg (not empty) in slot k, addressed to the sender of
// datagram i of the last read. msg must stay unchanged until flush.
func (b *udpIO) setReply(k, i int, msg []byte) {
	b.outSa[k] = b.inSa[i]
	b.out[k].hdr.Namelen = b.in[i].hdr.Namelen
	b.outIov[k].Base = &msg[0]
	b.outIov[k].SetLen(len(msg))
}

// flush sends the replies in slots [0, k). A reply the kernel refuses
// (EPERM from a firewall, say) is skipped and reported in the returned
// list; the rest are still sent. The error wraps net.ErrClosed once the
// socket is closed.
func (b *udpIO) flush(k int) ([]sendError, error) {
	b.skipped = b.skipped[:0]
	for b.sendFrom, b.sendTo = 0, k; b.sendFrom < b.sendTo; {
		if err := b.rc.Write(b.sendFn); err != nil {
			return b.skipped, err
		}
		if b.errno != 0 {
			// sendmmsg reports an error only when the first datagram
			// fails; skip it and go on with the others.
			i := b.sendFrom
			b.skipped = append(b.skipped, sendError{
				to:  sockaddrAddrPort(&b.outSa[i], b.out[i].hdr.Namelen),
				err: os.NewSyscallError("sendmmsg", b.errno),
			})
			b.sendFrom++
			continue
		}
		b.sendFrom += b.got
	}
	return b.skipped, nil
}

// sockaddrAddrPort decodes a sockaddr_in or sockaddr_in6 without
// allocating. An IPv6 zone is left out.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) netip.AddrPort {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p := uint16(port[0])<<8 | uint16(port[1])
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), p)
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), p)
	}
	return netip.AddrPort{}
}
