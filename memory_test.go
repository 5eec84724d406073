package main

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/localstack"
)

// The local stack gives its processes the memory limit kooper sets itself
// in a pod (GOMEMLIMIT, as the bench and the demo run it): the same ratio.
func TestTheLocalStackUsesThePodsMemoryRatio(t *testing.T) {
	NewWithT(t).Expect(localstack.PodMemoryRatio).To(Equal(memoryLimitRatio))
}

// unsetenv removes name from the environment for the test's duration.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the original value afterwards
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestSetMemoryLimit(t *testing.T) {
	const container = 1 << 30 // a 1 GiB cgroup limit
	noCgroup := errors.New("process is not in cgroup")
	asked := errors.New("the provider was asked despite GOMEMLIMIT")
	for _, tc := range []struct {
		name     string
		env      map[string]string // unset when absent
		provider memlimit.Provider
		want     int64 // returned
		wantErr  error
		// runtime is the runtime's limit afterwards; 0: unchanged.
		runtime int64
	}{
		{name: "90% of the container's limit", provider: memlimit.Limit(container),
			want: container * 9 / 10, runtime: container * 9 / 10},
		{name: "no limit (cgroup v2 max, v1 unlimited) leaves the runtime unlimited",
			provider: func() (uint64, error) { return 0, memlimit.ErrNoLimit }, runtime: math.MaxInt64},
		{name: "GOMEMLIMIT wins, the cgroup is not read", env: map[string]string{"GOMEMLIMIT": "100MiB"},
			provider: func() (uint64, error) { return 0, asked }},
		{name: "AUTOMEMLIMIT=off sets nothing", env: map[string]string{"AUTOMEMLIMIT": "off"},
			provider: memlimit.Limit(container)},
		{name: "AUTOMEMLIMIT replaces the ratio", env: map[string]string{"AUTOMEMLIMIT": "0.5"},
			provider: memlimit.Limit(container), want: container / 2, runtime: container / 2},
		{name: "no cgroup: an error, nothing set", provider: func() (uint64, error) { return 0, noCgroup }, wantErr: noCgroup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			for _, name := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT"} {
				if v, ok := tc.env[name]; ok {
					t.Setenv(name, v)
				} else {
					unsetenv(t, name)
				}
			}
			before := debug.SetMemoryLimit(-1)
			t.Cleanup(func() { debug.SetMemoryLimit(before) })

			limit, err := setMemoryLimit(tc.provider)
			if tc.wantErr != nil {
				g.Expect(err).To(MatchError(tc.wantErr))
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(limit).To(Equal(tc.want))
			if tc.runtime == 0 {
				tc.runtime = before
			}
			g.Expect(debug.SetMemoryLimit(-1)).To(Equal(tc.runtime))
		})
	}
}
