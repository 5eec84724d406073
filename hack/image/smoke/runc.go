package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// runc runs containers with the runc binary at path, keeping its state
// under stateRoot (not /run/runc, so that nothing else's containers are
// listed or touched).
type runc struct {
	path      string
	stateRoot string
}

// running is a container started with `runc run`: runc stays in the
// foreground, the container's output is its output, and it exits with
// the container's exit code.
type running struct {
	id             string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	err            error
}

// start runs the bundle at dir as container id.
func (r runc) start(id, dir string) (*running, error) {
	c := &running{id: id, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(r.path, "--root", r.stateRoot, "run", "--bundle", dir, id)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	// Should this program die, runc and its container go too.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start runc: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// exitCode is the container's exit code once runc returned (runc's own
// failures exit 1 too: stderr tells them apart).
func (c *running) exitCode() int {
	var exitErr *exec.ExitError
	if errors.As(c.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if c.err != nil {
		return -1
	}
	return 0
}

// wait waits up to timeout for the container to exit and returns its exit
// code.
func (c *running) wait(timeout time.Duration) (int, error) {
	select {
	case <-c.exited:
		return c.exitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("container %s still running after %s", c.id, timeout)
	}
}

// output is the container's output so far, for error messages.
func (c *running) output() string {
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderr.String())
}

// signal sends sig to the container's first process, as a kubelet's
// runtime does to stop a Pod's container.
func (r runc) signal(id, sig string) error {
	out, err := exec.Command(r.path, "--root", r.stateRoot, "kill", id, sig).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runc kill %s %s: %w: %s", id, sig, err, out)
	}
	return nil
}

// remove kills and deletes container id whatever its state; a container
// that is already gone is no error.
func (r runc) remove(id string) {
	_ = exec.Command(r.path, "--root", r.stateRoot, "delete", "--force", id).Run()
}

// runToExit runs the bundle at dir as container id and waits up to
// timeout for it to exit: its stdout, stderr and exit code.
func (r runc) runToExit(id, dir string, timeout time.Duration) (stdout, stderr string, code int, err error) {
	defer r.remove(id)
	c, err := r.start(id, dir)
	if err != nil {
		return "", "", 0, err
	}
	code, err = c.wait(timeout)
	return c.stdout.String(), c.stderr.String(), code, err
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
