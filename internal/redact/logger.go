// Package redact keeps what a request carried out of what kooper writes for
// operators: its log lines, the messages of the errors it logs and puts in
// conditions. Marketplace callbacks carry personal data (a joint-operation
// authSync's userList holds users' userName, name, mobile and email, spec
// §3.11.3), and a value is one quoted error message away from a log line.
// See docs/personal-data.md.
package redact

import (
	"slices"

	"github.com/go-logr/logr"
)

// MaxVerbosity is the highest verbosity kooper's logger enables, whatever
// -zap-log-level asks for. client-go logs whole request and response bodies
// at verbosity 8 and above (k8s.io/client-go/rest, logBody), through the
// logger of the context it is given, and controller-runtime gives every
// reconcile kooper's logger: at -zap-log-level=8 a directory shard read by
// the directory controller, users and all, would be logged, as would a
// keys Secret. Nothing of kooper's own logs above 1.
const MaxVerbosity = 7

// Logger returns l capped at MaxVerbosity: V(n) for n > MaxVerbosity is
// disabled, so no library logging through it writes bodies. Errors are
// logged as before (logr logs them at every verbosity).
func Logger(l logr.Logger) logr.Logger {
	sink := l.GetSink()
	if sink == nil {
		return l
	}
	// The capped sink's own Info and Error are one more frame between the
	// caller and the sink, which reports the caller's file and line.
	if withDepth, ok := sink.(logr.CallDepthLogSink); ok {
		sink = withDepth.WithCallDepth(1)
	}
	return logr.New(cappedSink{inner: sink})
}

// cappedSink passes everything to inner at verbosities up to MaxVerbosity.
type cappedSink struct {
	inner logr.LogSink
	// values are the key/value pairs given to WithValues since inner was
	// made, passed on only when a line is logged. zapr encodes values as
	// they are given (zap's With), and controller-runtime gives every
	// reconcile a logger with its own: encoding them was a tenth of what
	// a restart over 10,000 quiet tenants allocated (docs/benchmarks.md).
	values []any
}

// withValues is inner with the values given since: the same sink a
// WithValues passed on at once would have made.
func (s cappedSink) withValues() logr.LogSink {
	if len(s.values) == 0 {
		return s.inner
	}
	return s.inner.WithValues(s.values...)
}

// Init does nothing: inner was initialised when its own logger was made.
func (cappedSink) Init(logr.RuntimeInfo) {}

func (s cappedSink) Enabled(level int) bool {
	return level <= MaxVerbosity && s.inner.Enabled(level)
}

func (s cappedSink) Info(level int, msg string, keysAndValues ...any) {
	if level <= MaxVerbosity {
		s.withValues().Info(level, msg, keysAndValues...)
	}
}

func (s cappedSink) Error(err error, msg string, keysAndValues ...any) {
	s.withValues().Error(err, msg, keysAndValues...)
}

// WithValues keeps the values for the lines logged: slices.Clip makes the
// append copy, so that loggers made from one never share their values.
func (s cappedSink) WithValues(keysAndValues ...any) logr.LogSink {
	return cappedSink{inner: s.inner, values: append(slices.Clip(s.values), keysAndValues...)}
}

// WithName names inner at once: a logger's name and its values are
// separate (logr), so the order of the two calls changes no line.
func (s cappedSink) WithName(name string) logr.LogSink {
	return cappedSink{inner: s.inner.WithName(name), values: s.values}
}

// WithCallDepth lets helpers that log on their caller's behalf (logr's
// WithCallDepth) keep reporting the right line.
func (s cappedSink) WithCallDepth(depth int) logr.LogSink {
	if withDepth, ok := s.inner.(logr.CallDepthLogSink); ok {
		return cappedSink{inner: withDepth.WithCallDepth(depth), values: s.values}
	}
	return s
}
