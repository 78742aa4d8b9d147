//go:build !linux

package dnsserver

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// udpIO moves batches of datagrams on one UDP socket through x/net's
// batch calls (one datagram per call outside Linux). See udpio_linux.go
// for the Linux version, which the benchmarks measure.
type udpIO struct {
	pc      *ipv4.PacketConn
	in, out []ipv4.Message
	outBuf  [][]byte
	skipped []sendError
}

// sendError is one reply the kernel refused to send.
type sendError struct {
	to  netip.AddrPort
	err error
}

// newUDPIO prepares batches of size datagrams of up to bufSize bytes.
func newUDPIO(conn *net.UDPConn, size, bufSize int) (*udpIO, error) {
	b := &udpIO{
		pc:     ipv4.NewPacketConn(conn),
		in:     make([]ipv4.Message, size),
		out:    make([]ipv4.Message, size),
		outBuf: make([][]byte, size),
	}
	for i := range size {
		b.in[i].Buffers = [][]byte{make([]byte, bufSize)}
		b.outBuf[i] = make([]byte, bufSize)
		b.out[i].Buffers = [][]byte{nil}
	}
	return b, nil
}

// read waits for at least one datagram and returns how many arrived.
func (b *udpIO) read() (int, error) { return b.pc.ReadBatch(b.in, 0) }

// query returns datagram i of the last read and its sender.
func (b *udpIO) query(i int) ([]byte, netip.AddrPort) {
	return b.in[i].Buffers[0][:b.in[i].N], addrPort(b.in[i].Addr)
}

// scratch returns reply slot k's buffer, for building a reply in.
func (b *udpIO) scratch(k int) []byte { return b.outBuf[k] }

// setReply queues msg in slot k, addressed to the sender of datagram i.
func (b *udpIO) setReply(k, i int, msg []byte) {
	b.out[k].Buffers[0] = msg
	b.out[k].Addr = b.in[i].Addr
}

// flush sends the replies in slots [0, k); one that fails is skipped
// and reported.
func (b *udpIO) flush(k int) ([]sendError, error) {
	b.skipped = b.skipped[:0]
	for sent := 0; sent < k; {
		m, err := b.pc.WriteBatch(b.out[sent:k], 0)
		if err != nil {
			if m <= 0 {
				if isClosed(err) {
					return b.skipped, err
				}
				b.skipped = append(b.skipped, sendError{to: addrPort(b.out[sent].Addr), err: err})
				m = 1
			}
		}
		sent += m
	}
	return b.skipped, nil
}
