package main

import (
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/internal/redact"
	"github.com/kooper-io/kooper/webhook"
)

// newLogger is kooper's logger: zap as the -zap-* flags configure it,
// capped at redact.MaxVerbosity so that no verbosity makes client-go log
// request and response bodies (directory users, keys Secrets) through it.
//
// In production mode (the chart's) controller-runtime samples every line:
// of each message, the first 100 a second and every 100th after. kooper
// samples the same way, except the receiver's audit line, the one record
// each callback gets (docs/operations.md#the-audit-line): sampled, it was
// lost for nine callbacks in ten at 1,000 a second. The receiver bounds
// the audit lines of requests nobody authenticated itself.
func newLogger(opts *zap.Options) logr.Logger {
	o := *opts
	level := o.Level
	if level == nil {
		level = zapcore.InfoLevel // controller-runtime's production default
	}
	// controller-runtime samples only in production mode and above
	// verbosity 2 (zap's sampler has no counters below it).
	if !o.Development && !level.Enabled(zapcore.Level(-2)) {
		// A core that enables -2 takes controller-runtime's sampler out;
		// the level asked for is applied again above it.
		o.Level = zapcore.Level(-2)
		o.ZapOpts = append(slices.Clone(o.ZapOpts), uberzap.WrapCore(func(core zapcore.Core) zapcore.Core {
			leveled, err := zapcore.NewIncreaseLevelCore(core, level)
			if err != nil {
				// Not reached: level enables nothing below -2.
				return core
			}
			return auditUnsampled{all: leveled, sampled: zapcore.NewSamplerWithOptions(leveled, time.Second, 100, 100)}
		}))
	}
	return redact.Logger(zap.New(zap.UseFlagOptions(&o)))
}

// auditUnsampled writes every line of the audit logger through all and
// samples the rest through sampled (the same core below a sampler).
type auditUnsampled struct {
	all, sampled zapcore.Core
}

func (c auditUnsampled) Enabled(l zapcore.Level) bool { return c.all.Enabled(l) }

func (c auditUnsampled) With(fields []zapcore.Field) zapcore.Core {
	return auditUnsampled{all: c.all.With(fields), sampled: c.sampled.With(fields)}
}

func (c auditUnsampled) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if isAuditLogger(e.LoggerName) {
		return c.all.Check(e, ce)
	}
	return c.sampled.Check(e, ce)
}

func (c auditUnsampled) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.all.Write(e, fields)
}

func (c auditUnsampled) Sync() error { return c.all.Sync() }

// isAuditLogger tells the audit logger's name, alone or last of a chain.
func isAuditLogger(name string) bool {
	return name == webhook.AuditLoggerName || strings.HasSuffix(name, "."+webhook.AuditLoggerName)
}
