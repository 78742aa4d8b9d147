package proctest

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/detour-dns/detour/internal/testutil"
)

// stop kills p's process and waits for its end.
func stop(p *Process) {
	_ = p.Cmd.Process.Kill()
	<-p.Done()
}

func TestStart_RunningRecordAndLog(t *testing.T) {
	var log testutil.SyncBuffer
	cmd := exec.Command("sh", "-c", `echo plain line >&2; echo '{"msg":"node running","api":"127.0.0.1:1"}' >&2; exec sleep 30`)
	p, err := Start(cmd, &log, "node running")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(p)
	rec, err := p.WaitRunning(10 * time.Second)
	if err != nil {
		t.Fatalf("WaitRunning: %v\n%s", err, log.String())
	}
	if rec["api"] != "127.0.0.1:1" {
		t.Errorf("running record %v, want api 127.0.0.1:1", rec)
	}
	want := "plain line\n{\"msg\":\"node running\",\"api\":\"127.0.0.1:1\"}\n"
	if got := log.String(); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestWaitRunning_Exited(t *testing.T) {
	var log testutil.SyncBuffer
	p, err := Start(exec.Command("sh", "-c", `echo '{"msg":"other"}' >&2; exit 3`), &log, "node running")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitRunning(10 * time.Second); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitRunning = %v, want ErrExited", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is open after the process exited")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}

func TestWaitRunning_Timeout(t *testing.T) {
	var log testutil.SyncBuffer
	p, err := Start(exec.Command("sleep", "30"), &log, "node running")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(p)
	_, err = p.WaitRunning(50 * time.Millisecond)
	if err == nil || errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "did not start in 50ms") {
		t.Fatalf("WaitRunning = %v, want a timeout error", err)
	}
}

func TestStart_NoSuchBinary(t *testing.T) {
	var log testutil.SyncBuffer
	if _, err := Start(exec.Command("/nonexistent/detour"), &log, "node running"); err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
}
