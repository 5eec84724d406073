package localcluster

import (
	"errors"
	"fmt"
	"testing"

	kerrors "k8s.io/apimachinery/pkg/util/errors"
)

// envtest reports a process it killed after its stop timeout as an error
// ("timeout waiting for process kube-apiserver to stop"); a local cluster
// takes that for a stop and logs it, and keeps every other error.
func TestAProcessKilledAfterItsStopTimeoutIsStopped(t *testing.T) {
	killed := errors.New("timeout waiting for process kube-apiserver to stop")
	unkillable := errors.Join(errors.New("timeout waiting for process etcd to stop"),
		errors.New("unable to kill process /bin/etcd: operation not permitted"))
	other := errors.New("unable to signal for process /bin/etcd to stop: no such process")
	lookalike := errors.New("something else waiting for process etcd to stop")
	for _, tc := range []struct {
		name   string
		err    error
		want   string // "" for no error
		logged int
	}{
		{"nothing went wrong", nil, "", 0},
		{"kube-apiserver killed", kerrors.NewAggregate([]error{killed}), "", 1},
		{"killed, and another error", kerrors.NewAggregate([]error{killed, other}), other.Error(), 1},
		{"an error that only ends the same way", kerrors.NewAggregate([]error{lookalike}), lookalike.Error(), 0},
		{"a process that could not be killed", kerrors.NewAggregate([]error{unkillable}), unkillable.Error(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			logf := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
			err := killedIsStopped(tc.err, logf)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v; want none", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("error %v; want %q", err, tc.want)
			case len(lines) != tc.logged:
				t.Fatalf("logged %q; want %d line(s)", lines, tc.logged)
			}
		})
	}
	var lines []string
	_ = killedIsStopped(kerrors.NewAggregate([]error{killed}), func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) })
	if want := "kube-apiserver had not stopped 10s after SIGTERM: killed"; len(lines) != 1 || lines[0] != want {
		t.Fatalf("logged %q; want %q", lines, want)
	}
}
