package dnsserver

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawStream reads and writes a TCP connection with raw system calls on
// its non-blocking socket, waiting in Go's network poller (and so under
// the connection's deadlines) when there is nothing to read or no room
// to write. It is for the reason udpio_linux.go gives: an ordinary
// syscall after an idle moment wakes the runtime's monitor thread. Writes
// use MSG_NOSIGNAL: a closed peer gives EPIPE, not a signal.
type rawStream struct {
	rc              syscall.RawConn
	buf             []byte // the callbacks' argument
	n               int    // the callbacks' result
	errno           unix.Errno
	readFn, writeFn func(fd uintptr) bool
}

// streamIO returns how to read and write c: a rawStream for a TCP
// connection, c itself otherwise.
func streamIO(c net.Conn) io.ReadWriter {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &rawStream{rc: rc}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

// read and write are the RawConn callbacks (see rawCall).
func (s *rawStream) read(fd uintptr) bool {
	return rawCall(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), 0, &s.n, &s.errno)
}

func (s *rawStream) write(fd uintptr) bool {
	return rawCall(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)), unix.MSG_NOSIGNAL, &s.n, &s.errno)
}

// Read reads what has arrived, waiting for something if nothing has;
// io.EOF when the peer has closed its side.
func (s *rawStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.buf = p
	err := s.rc.Read(s.readFn)
	s.buf = nil
	switch {
	case err != nil:
		return 0, err
	case s.errno != 0:
		return 0, os.NewSyscallError("recvfrom", s.errno)
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}

// Write writes all of p, waiting for room as often as it must.
func (s *rawStream) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		s.buf = p[written:]
		err := s.rc.Write(s.writeFn)
		s.buf = nil
		if err != nil {
			return written, err
		}
		if s.errno != 0 {
			return written, os.NewSyscallError("sendto", s.errno)
		}
		written += s.n
	}
	return written, nil
}
