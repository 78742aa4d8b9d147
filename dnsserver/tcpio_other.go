//go:build !linux

package dnsserver

import (
	"io"
	"net"
)

// streamIO returns how to read and write c: c itself outside Linux (see
// tcpio_linux.go).
func streamIO(c net.Conn) io.ReadWriter { return c }
