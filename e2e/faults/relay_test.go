package faults

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// This kernel has no netem, so added latency comes from a userspace relay
// between two TUN devices: every packet read from one is written to the
// other after a fixed delay (per direction, so RTT = 2 x delay).

// relay copies packets between two TUN devices with a delay.
type relay struct {
	a, b    *os.File
	delay   time.Duration
	wg      sync.WaitGroup
	dropped atomic.Int64 // packets dropped because a direction's queue was full
	copied  atomic.Int64
}

// openTUN creates TUN device name (layer 3, no packet info header) in the
// calling thread's network namespace and returns its file, non-blocking
// so that Close ends a pending Read.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tun %s: %w", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %s non-blocking: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tun:"+name), nil
}

// startRelay creates TUN devices nameA and nameB in the test's own
// namespace (the caller moves them) and relays between them.
func startRelay(nameA, nameB string, delay time.Duration) (*relay, error) {
	a, err := openTUN(nameA)
	if err != nil {
		return nil, err
	}
	b, err := openTUN(nameB)
	if err != nil {
		a.Close()
		return nil, err
	}
	r := &relay{a: a, b: b, delay: delay}
	r.pipe(a, b)
	r.pipe(b, a)
	return r, nil
}

// pipe relays from one device to the other: a reader queues each packet
// with its due time, a writer sends it when due. The delay is the same for
// every packet, so the order is kept.
func (r *relay) pipe(from, to *os.File) {
	type packet struct {
		due time.Time
		b   []byte
	}
	q := make(chan packet, 4096)
	r.wg.Go(func() {
		defer close(q)
		buf := make([]byte, 65536)
		for {
			n, err := from.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				continue // a device that is down for a moment
			}
			select {
			case q <- packet{time.Now().Add(r.delay), append([]byte(nil), buf[:n]...)}:
			default:
				r.dropped.Add(1)
			}
		}
	})
	r.wg.Go(func() {
		for p := range q {
			if d := time.Until(p.due); d > 0 {
				time.Sleep(d) // the relay's delay line, not synchronisation
			}
			if _, err := to.Write(p.b); err == nil {
				r.copied.Add(1)
			}
		}
	})
}

// close removes both devices (they go when their files close) and waits
// for the relay's goroutines.
func (r *relay) close() {
	r.a.Close()
	r.b.Close()
	r.wg.Wait()
}
