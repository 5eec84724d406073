package ssogateway

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

// A user the kit sent with fields of other types (a numeric orgCode), or
// with an appId of its own under some spelling, is read under the key the
// receiver stored it with; it makes neither its shard nor the tenant's
// other users unavailable.
func TestLoadUsersReadsUsersAsTheReceiverKeyedThem(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "users-000.json"), `[
{"appId":"A","userName":"alice","name":"A","orgCode":1001,"role":"user","enable":"true"},
{"appId":"A","userName":"bob","AppId":7,"enable":"true"},
{"appId":"A","userName":"carol","appId":"B","enable":"true"},
{"appId":"A","userName":"dave","APPID":{"id":"B"},"enable":"false"}]`)
	writeFile(t, filepath.Join(dir, "users-001.json"), `[{"appId":"A","userName":"erin","orgCode":[1],"enable":true}]`)
	users, err := loadUsers(dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users).To(Equal(map[string]bool{"A/alice": true, "A/bob": true, "A/carol": true, "A/erin": true}))
}

// An entry whose key cannot be read admits nobody, and only it.
func TestLoadUsersSkipsOnlyAnUnreadableEntry(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "users-000.json"), `[{"appId":"A","userName":{"x":1}},"text",{"appId":"A","userName":"alice"}]`)
	users, err := loadUsers(dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users).To(Equal(map[string]bool{"A/alice": true}))
	writeFile(t, filepath.Join(dir, "users-000.json"), `{"appId":"A","userName":"alice"}`)
	_, err = loadUsers(dir)
	g.Expect(err).To(HaveOccurred())
}
