package probe

import (
	"context"
	"fmt"
	"strings"
)

// tcpChecker opens a TCP connection to each address and closes it.
type tcpChecker struct {
	dial  dialFunc
	addrs []string
}

var _ checker = (*tcpChecker)(nil)

// check connects to every address in turn and returns the first failure.
func (t *tcpChecker) check(ctx context.Context) Result {
	for _, addr := range t.addrs {
		conn, err := t.dial(ctx, "tcp", addr)
		if err != nil {
			return failure(classify(err, ClassError), addr, fmt.Sprintf("connect: %v", err))
		}
		abortOnClose(conn)
		_ = conn.Close()
	}
	return success(strings.Join(t.addrs, ","))
}
