package cluster

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A write blocked on a peer that stopped reading ends as soon as the layer
// closes its connections, instead of waiting for the I/O timeout.
func TestTrackingLayer_CloseConnsEndsBlockedWrites(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := peer.Accept()
		if err == nil {
			accepted <- c // never read from: the sender's buffers fill up
		}
	}()

	inner, err := newTCPStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	layer := newTrackingLayer(inner)
	defer layer.Close()
	c, err := layer.Dial(raft.ServerAddress(peer.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { (<-accepted).Close() }()
	if got := layer.open(); got != 1 {
		t.Fatalf("open connections = %d, want 1", got)
	}

	written := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		c.SetWriteDeadline(time.Now().Add(time.Minute))
		for {
			if _, err := c.Write(buf); err != nil {
				written <- err
				return
			}
		}
	}()
	select {
	case err := <-written:
		t.Fatalf("write ended before the layer closed: %v", err)
	case <-time.After(200 * time.Millisecond): // the write is blocked by now
	}

	start := time.Now()
	layer.closeConns()
	select {
	case err := <-written:
		if err == nil {
			t.Fatal("blocked write returned no error")
		}
		t.Logf("blocked write ended %v after closeConns: %v", time.Since(start), err)
	case <-time.After(10 * time.Second):
		t.Fatal("blocked write still running 10 s after closeConns")
	}
	if got := layer.open(); got != 0 {
		t.Fatalf("open connections after closeConns = %d, want 0", got)
	}
	if _, err := layer.Dial(raft.ServerAddress(peer.Addr().String()), time.Second); !errors.Is(err, errLayerClosed) {
		t.Fatalf("dial after closeConns: err = %v, want errLayerClosed", err)
	}
}
