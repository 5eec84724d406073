package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sampleAppUser is the identity header value the smoke test sends.
const sampleAppUser = "smoke-user"

// sampleApp smoke-tests the sample tenant app's image with a writable
// volume at /data, owned by its user as an fsGroup would make it.
func (s *smoke) sampleApp(archive string) error {
	fmt.Println("sample-app image:")
	var cfg *v1.ConfigFile
	var rootfs string
	err := step("unpack the linux/"+hostArch()+" image", func() (err error) {
		cfg, rootfs, _, err = s.hostImage(archive, "sample-app")
		return err
	})
	if err != nil {
		return err
	}
	volume, err := filepath.Abs(filepath.Join(s.work, "sample-app", "data"))
	if err != nil {
		return err
	}
	if err := makeVolume(volume, cfg.Config.User); err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	addr := ports[0]
	_, port, _ := strings.Cut(addr, ":")
	dir, id, err := s.bundle(cfg, rootfs, "run", container{
		env:    []string{"PORT=" + port, "KOOPER_INSTANCE_ID=smoke-instance"},
		mounts: []bindMount{{host: volume, container: "/data"}},
	})
	if err != nil {
		return err
	}
	defer s.runc.remove(id)
	var c *running
	err = step("answers /healthz, then /ready (its volume takes writes)", func() (err error) {
		if c, err = s.runc.start(id, dir); err != nil {
			return err
		}
		if err := waitForStatus(c, "http://"+addr+"/healthz", http.StatusOK, nil); err != nil {
			return err
		}
		return waitForStatus(c, "http://"+addr+"/ready", http.StatusOK, nil)
	})
	if err != nil {
		return withOutput(err, c)
	}
	err = step("echoes the identity headers and records the visit on its volume", func() error {
		return checkVisit(addr, volume)
	})
	if err != nil {
		return withOutput(err, c)
	}
	return withOutput(step("SIGTERM: exits 0", func() error { return stop(s.runc, c) }), c)
}

// makeVolume makes an empty folder owned by user ("uid:gid").
func makeVolume(path, user string) error {
	uid, gid, err := parseUser(user)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}

// checkVisit visits / as sampleAppUser and wants the user echoed and a
// line in the volume's visits.log.
func checkVisit(addr, volume string) error {
	code, body, err := get("http://"+addr+"/", http.Header{"X-Forwarded-User": {sampleAppUser}})
	if err != nil {
		return err
	}
	var answer struct {
		InstanceID string            `json:"instanceId"`
		Identity   map[string]string `json:"identity"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &answer) != nil {
		return fmt.Errorf("GET / answered %d %s", code, body)
	}
	if answer.Identity["X-Forwarded-User"] != sampleAppUser || answer.InstanceID != "smoke-instance" {
		return fmt.Errorf("GET / did not echo the caller and instance: %s", body)
	}
	visits, err := os.ReadFile(filepath.Join(volume, "visits.log"))
	if err != nil {
		return fmt.Errorf("nothing written to the volume: %w", err)
	}
	if !strings.Contains(string(visits), " "+sampleAppUser+"\n") {
		return fmt.Errorf("visits.log does not record %s: %q", sampleAppUser, visits)
	}
	return nil
}
