package localcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Process is a component the local cluster started, with its output in a
// log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	err     error
}

// StartProcess starts binary with args, writing its output to
// logDir/<name>.log. The child gets SIGTERM if this process dies first, so
// a killed demo does not leave it running.
func StartProcess(name, logDir, binary string, args []string, env ...string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process ends.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitError describes how the process ended; call it after Exited.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited (%v); see %s", p.Name, p.err, p.LogPath)
}

// Stop asks the process to end and kills it after timeout.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s and was killed", p.Name, timeout)
	}
}

// Kill ends the process with SIGKILL at once, as a crash or an OOM kill
// does, and waits until it has exited.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had already exited", p.Name)
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("failed to kill %s: %w", p.Name, err)
	}
	<-p.exited
	return nil
}

// KillLeftovers kills the processes running one of the named binaries whose
// command line mentions dir: those a previous run started and could not stop
// because it was killed itself. Every component's flags name a file under
// the state directory, so this finds exactly them and nothing a user started.
func KillLeftovers(dir string, binaries ...string) (int, error) {
	pids, err := findProcesses(dir, binaries...)
	if err != nil {
		return 0, err
	}
	killed := 0
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
			continue
		}
		killed++
	}
	return killed, errors.Join(errs...)
}

// findProcesses returns the IDs of the processes running one of the named
// binaries whose command line mentions a path under dir.
func findProcesses(dir string, binaries ...string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid := 0
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		if !runsOneOf(pid, binaries) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir+string(filepath.Separator)) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// runsOneOf reports whether the process's executable has one of the names.
func runsOneOf(pid int, binaries []string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return slices.Contains(binaries, filepath.Base(exe))
}
