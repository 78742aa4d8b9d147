package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level that hclog's Trace level maps to: one step
// below slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// NewHCLog returns an hclog.Logger that writes through h. name becomes the
// "logger" attribute of every record (hclog's Named and ResetNamed change
// it). A nil h discards everything. The returned logger is safe for
// concurrent use; its level starts at Trace, so the handler alone decides
// what is written until SetLevel raises it.
func NewHCLog(h slog.Handler, name string) hclog.Logger {
	if h == nil {
		h = slog.DiscardHandler
	}
	lv := new(atomic.Int32)
	lv.Store(int32(hclog.Trace))
	return &hcLogger{h: h, name: name, level: lv}
}

// hcLogger implements hclog.Logger on top of a slog.Handler.
type hcLogger struct {
	h     slog.Handler
	name  string
	args  []any         // implied args, as given to With
	level *atomic.Int32 // an hclog.Level, shared with loggers derived by With and Named
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps an hclog level to a slog level.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel, and anything unknown
		return slog.LevelInfo
	}
}

func (l *hcLogger) enabled(lv hclog.Level) bool {
	if lv == hclog.Off {
		return false
	}
	min := hclog.Level(l.level.Load())
	if min == hclog.Off || (lv != hclog.NoLevel && lv < min) {
		return false
	}
	return l.h.Enabled(context.Background(), slogLevel(lv))
}

// Log writes msg with args (alternating keys and values, as hclog takes
// them) at level.
func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if !l.enabled(level) {
		return
	}
	r := slog.NewRecord(time.Now(), slogLevel(level), msg, 0)
	if l.name != "" {
		r.AddAttrs(slog.String("logger", l.name))
	}
	r.Add(l.args...)
	r.Add(fixArgs(args)...)
	_ = l.h.Handle(context.Background(), r) // a logger has nowhere to report its own failure
}

// fixArgs turns hclog-specific values into plain ones slog formats well:
// hclog.Format becomes the formatted string, and an odd trailing value gets
// the key "extra" (hclog's convention for a dangling value).
func fixArgs(args []any) []any {
	if len(args) == 0 {
		return nil
	}
	out := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		if i == len(args)-1 && len(args)%2 == 1 {
			out = append(out, "extra", plain(args[i]))
			break
		}
		out = append(out, args[i])
		if i+1 < len(args) {
			i++
			out = append(out, plain(args[i]))
		}
	}
	return out
}

func plain(v any) any {
	if f, ok := v.(hclog.Format); ok && len(f) > 0 {
		if s, ok := f[0].(string); ok {
			return fmt.Sprintf(s, f[1:]...)
		}
	}
	return v
}

// Trace logs at hclog's Trace level.
func (l *hcLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }

// Debug logs at Debug level.
func (l *hcLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }

// Info logs at Info level.
func (l *hcLogger) Info(msg string, args ...any) { l.Log(hclog.Info, msg, args...) }

// Warn logs at Warn level.
func (l *hcLogger) Warn(msg string, args ...any) { l.Log(hclog.Warn, msg, args...) }

// Error logs at Error level.
func (l *hcLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

// IsTrace reports whether Trace records are written.
func (l *hcLogger) IsTrace() bool { return l.enabled(hclog.Trace) }

// IsDebug reports whether Debug records are written.
func (l *hcLogger) IsDebug() bool { return l.enabled(hclog.Debug) }

// IsInfo reports whether Info records are written.
func (l *hcLogger) IsInfo() bool { return l.enabled(hclog.Info) }

// IsWarn reports whether Warn records are written.
func (l *hcLogger) IsWarn() bool { return l.enabled(hclog.Warn) }

// IsError reports whether Error records are written.
func (l *hcLogger) IsError() bool { return l.enabled(hclog.Error) }

// ImpliedArgs returns the args added by With.
func (l *hcLogger) ImpliedArgs() []any { return append([]any(nil), l.args...) }

// With returns a logger that adds args to every record.
func (l *hcLogger) With(args ...any) hclog.Logger {
	c := *l
	c.args = append(append([]any(nil), l.args...), fixArgs(args)...)
	return &c
}

// Name returns the logger's name.
func (l *hcLogger) Name() string { return l.name }

// Named returns a logger whose name is this one's with ".name" appended.
func (l *hcLogger) Named(name string) hclog.Logger {
	c := *l
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed returns a logger named name.
func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

// SetLevel sets the lowest level written, for this logger and every logger
// derived from it. The handler may still drop records below its own level.
func (l *hcLogger) SetLevel(level hclog.Level) { l.level.Store(int32(level)) }

// GetLevel returns the level set by SetLevel.
func (l *hcLogger) GetLevel() hclog.Level { return hclog.Level(l.level.Load()) }

// StandardLogger returns a *log.Logger that writes through this logger.
func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs every line written to it. With
// opts.ForceLevel set, lines are logged at that level; with opts.InferLevels,
// a leading "[ERROR]", "[ERR]", "[WARN]", "[INFO]", "[DEBUG]" or "[TRACE]"
// picks the level and is removed; otherwise lines are logged at Info.
func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	var o hclog.StandardLoggerOptions
	if opts != nil {
		o = *opts
	}
	return &stdWriter{l: l, opts: o}
}

type stdWriter struct {
	l    *hcLogger
	opts hclog.StandardLoggerOptions
}

func (w *stdWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := strings.TrimSpace(string(line))
		lv := hclog.Info
		if w.opts.ForceLevel != hclog.NoLevel {
			lv = w.opts.ForceLevel
			_, msg = splitLevel(msg)
		} else if w.opts.InferLevels {
			lv, msg = splitLevel(msg)
		}
		w.l.Log(lv, msg)
	}
	return len(p), nil
}

// splitLevel reads a leading level tag such as "[WARN]" off msg.
func splitLevel(msg string) (hclog.Level, string) {
	tags := []struct {
		tag string
		lv  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
	}
	for _, t := range tags {
		if rest, ok := strings.CutPrefix(msg, t.tag); ok {
			return t.lv, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, msg
}
