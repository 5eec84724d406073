package main

import (
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kooper-io/kooper/webhook"
)

// The input: with the chart's logging (production mode, info), zap keeps
// the first 100 lines a second of each message and every 100th after, so
// at more than 100 callbacks a second most callbacks lost their audit line,
// the one record each gets, the marketplace's purchases among them.
func TestEveryAuditLineIsWrittenWhileOtherLinesAreSampled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level zapcore.LevelEnabler
	}{{"the default level", nil}, {"error", zapcore.ErrorLevel}} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			log := newLogger(&zap.Options{Development: false, Level: tc.level, DestWriter: logs})
			audit, other := log.WithName(webhook.AuditLoggerName), log.WithName("receiver")
			const lines = 1000
			for i := range lines {
				audit.Info("Callback answered", "i", i)
				audit.Error(nil, "Callback failed", "i", i)
				other.Info("Revocation list refused", "i", i)
				other.Error(nil, "Reconciler error", "i", i)
				other.V(1).Info("Debug detail", "i", i)
			}
			count := func(s string) int { return strings.Count(logs.String(), s) }
			wantInfo := lines
			if tc.level != nil {
				wantInfo = 0
			}
			if got := count(`"msg":"Callback answered"`); got != wantInfo {
				t.Errorf("%d audit lines at info written, want %d", got, wantInfo)
			}
			if got := count(`"msg":"Callback failed"`); got != lines {
				t.Errorf("%d audit lines at error written, want %d", got, lines)
			}
			if got := count(`"msg":"Reconciler error"`); got >= lines/2 {
				t.Errorf("%d of %d other error lines written: they are sampled", got, lines)
			}
			if got := count(`"msg":"Revocation list refused"`); got >= lines/2 && tc.level == nil {
				t.Errorf("%d of %d other info lines written: they are sampled", got, lines)
			}
			if got := count(`"msg":"Debug detail"`); got != 0 {
				t.Errorf("%d debug lines written at info", got)
			}
		})
	}
}
