package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContainerLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name    string
		files   []string
		want    int64
		wantErr bool
	}{
		{"cgroup v2 limit", []string{write("v2", "268435456\n")}, 268435456, false},
		{"cgroup v2 unlimited", []string{write("v2max", "max\n")}, 0, false},
		{"cgroup v1 unlimited", []string{write("v1", "9223372036854771712\n")}, 0, false},
		{"first missing, second read", []string{filepath.Join(dir, "absent"), write("v1b", "536870912")}, 536870912, false},
		{"garbage", []string{write("bad", "lots")}, 0, true},
		{"no file", []string{filepath.Join(dir, "absent")}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerLimit(tc.files)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("containerLimit = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFromCgroupLeavesAnExplicitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := FromCgroup(); got != 0 {
		t.Fatalf("FromCgroup set %d despite GOMEMLIMIT", got)
	}
}
