package proctest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// ErrExited is returned by WaitRunning when the process exited before it
// logged its running record.
var ErrExited = errors.New("exited before running")

// Process is a started command whose stderr is being copied to a log.
type Process struct {
	// Cmd is the started command; Cmd.Process signals it.
	Cmd *exec.Cmd

	done    chan struct{}
	running chan map[string]any
}

// Start starts cmd and copies each line of its stderr, with a trailing
// newline and in one Write call, to log, which must be safe to write while
// the test reads it. It watches for the first JSON record whose "msg" is
// runningMsg (see WaitRunning). cmd must not have its Stderr set.
func Start(cmd *exec.Cmd, log io.Writer, runningMsg string) (*Process, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{}), running: make(chan map[string]any, 1)}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var out []byte
		for sc.Scan() {
			line := sc.Bytes()
			out = append(append(out[:0], line...), '\n')
			_, _ = log.Write(out)
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == runningMsg {
				select {
				case p.running <- rec:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	return p, nil
}

// Done returns a channel closed once the process has exited and its
// stderr has been read to the end.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitRunning waits up to timeout for the running record and returns it.
// It returns ErrExited when the process exits first, and an error saying
// how long it waited when timeout passes first.
func (p *Process) WaitRunning(timeout time.Duration) (map[string]any, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case rec := <-p.running:
		return rec, nil
	case <-p.done:
		return nil, ErrExited
	case <-t.C:
		return nil, fmt.Errorf("did not start in %v", timeout)
	}
}
