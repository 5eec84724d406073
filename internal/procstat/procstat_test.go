package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseCPUSeconds(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       float64
		wantErr    bool
	}{
		{"plain", "42 (kube-apiserver) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100", 3, false},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1", 0.03, false},
		{"short", "7 (x) R 1 2 3", 0, true},
		{"no name", "garbage", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 1", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPUSeconds(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseCPUSeconds = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	if _, err := CPUSeconds(os.Getpid()); err != nil {
		t.Error(err)
	}
	rss, err := StatusBytes(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Errorf("VmRSS = %v, %v", rss, err)
	}
	if _, err := StatusBytes(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("a missing field is no error")
	}
}

func TestFindPIDFindsThisProcessByNameAndArgument(t *testing.T) {
	if len(os.Args) < 2 {
		t.Skip("the test binary was run without arguments")
	}
	name := filepath.Base(os.Args[0])
	pid, err := FindPID(name, os.Args[1])
	if err != nil || pid != os.Getpid() {
		t.Fatalf("FindPID(%q, %q) = %d, %v; want %d", name, os.Args[1], pid, err, os.Getpid())
	}
	if pid, err := FindPID(name, "--no-such-argument"); err == nil {
		t.Fatalf("FindPID found process %d for an argument nobody has", pid)
	}
}
