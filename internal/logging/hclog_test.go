package logging

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

// recorder is a slog.Handler that keeps every record it is given, with
// its attributes flattened to strings.
type recorder struct {
	min  slog.Level
	mu   sync.Mutex
	recs []rec
}

type rec struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }

func (r *recorder) Handle(_ context.Context, sr slog.Record) error {
	x := rec{Level: sr.Level, Msg: sr.Message, Attrs: map[string]string{}}
	sr.Attrs(func(a slog.Attr) bool {
		x.Attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, x)
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { panic("not used by the adapter") }
func (r *recorder) WithGroup(string) slog.Handler      { panic("not used by the adapter") }

func TestHCLog_LevelsAndArgs(t *testing.T) {
	h := &recorder{min: LevelTrace}
	l := NewHCLog(h, "raft")
	l.Trace("t")
	l.Debug("d", "k", 1)
	l.Info("i", "err", errors.New("boom"))
	l.Warn("w", "a", "b", "dangling")
	l.Error("e", "f", hclog.Fmt("%d-%s", 7, "x"))
	want := []rec{
		{LevelTrace, "t", map[string]string{"logger": "raft"}},
		{slog.LevelDebug, "d", map[string]string{"logger": "raft", "k": "1"}},
		{slog.LevelInfo, "i", map[string]string{"logger": "raft", "err": "boom"}},
		{slog.LevelWarn, "w", map[string]string{"logger": "raft", "a": "b", "extra": "dangling"}},
		{slog.LevelError, "e", map[string]string{"logger": "raft", "f": "7-x"}},
	}
	if diff := cmp.Diff(want, h.recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestHCLog_WithNamedAndLevel(t *testing.T) {
	h := &recorder{min: slog.LevelDebug}
	base := NewHCLog(h, "raft")
	if base.IsTrace() {
		t.Error("IsTrace = true although the handler drops trace records")
	}
	if !base.IsDebug() {
		t.Error("IsDebug = false although the handler takes debug records")
	}
	l := base.With("node_id", "n1").Named("net")
	if got := l.Name(); got != "raft.net" {
		t.Errorf("Name = %q, want raft.net", got)
	}
	if got := l.ResetNamed("x").Name(); got != "x" {
		t.Errorf("ResetNamed name = %q, want x", got)
	}
	if diff := cmp.Diff([]any{"node_id", "n1"}, l.ImpliedArgs()); diff != "" {
		t.Errorf("ImpliedArgs (-want +got):\n%s", diff)
	}
	l.Info("hello", "peer", "n2")
	base.SetLevel(hclog.Warn) // shared with derived loggers
	l.Info("dropped")
	l.Warn("kept")
	if base.GetLevel() != hclog.Warn || l.IsInfo() {
		t.Errorf("after SetLevel(Warn): GetLevel=%v IsInfo=%v", base.GetLevel(), l.IsInfo())
	}
	want := []rec{
		{slog.LevelInfo, "hello", map[string]string{"logger": "raft.net", "node_id": "n1", "peer": "n2"}},
		{slog.LevelWarn, "kept", map[string]string{"logger": "raft.net", "node_id": "n1"}},
	}
	if diff := cmp.Diff(want, h.recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestHCLog_StandardLogger(t *testing.T) {
	h := &recorder{min: LevelTrace}
	l := NewHCLog(h, "")
	std := l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	std.Print("[ERR] bad thing")
	std.Print("[DEBUG] detail")
	std.Print("plain")
	forced := l.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn})
	if _, err := forced.Write([]byte("[INFO] one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	want := []rec{
		{slog.LevelError, "bad thing", map[string]string{}},
		{slog.LevelDebug, "detail", map[string]string{}},
		{slog.LevelInfo, "plain", map[string]string{}},
		{slog.LevelWarn, "one", map[string]string{}},
		{slog.LevelWarn, "two", map[string]string{}},
	}
	if diff := cmp.Diff(want, h.recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestHCLog_NilHandlerDiscards(t *testing.T) {
	l := NewHCLog(nil, "x")
	if l.IsError() {
		t.Error("a logger without a handler claims to write errors")
	}
	l.Error("nothing happens")
}
