package webhook

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// authSyncUsers is an authSync of appId carrying the user objects given.
func authSyncUsers(instanceID, tenantID, appID string, flag int, users ...string) string {
	return fmt.Sprintf(`{"instanceId":%q,"tenantId":%q,"appId":%q,"userList":[%s],"currentSyncTime":"20220413093539534","flag":%d,"testFlag":0,"timeStamp":"20220413093539534"}`,
		instanceID, tenantID, appID, strings.Join(users, ","), flag)
}

// TestKitAuthSyncKeepsUsersOfAnyFieldTypeRemovable: a user is stored under
// the key the receiver computed (the request's appId and the userName),
// whatever else its object holds: a numeric orgCode, a non-string appId of
// its own, or a string appId other than the request's. Later syncs of the
// enterprise still read its shards, and cancelling the user removes it.
func TestKitAuthSyncKeepsUsersOfAnyFieldTypeRemovable(t *testing.T) {
	cases := []struct{ name, user string }{
		{"numeric orgCode", `{"userName":"alice","name":"A","orgCode":1001,"role":"user","enable":"true"}`},
		{"numeric appId", `{"userName":"alice","appId":5,"enable":"true"}`},
		{"AppId object", `{"userName":"alice","AppId":{"id":"B"},"enable":"true"}`},
		{"APPID boolean", `{"userName":"alice","APPID":true,"enable":"true"}`},
		{"another appId", `{"userName":"alice","appId":"B","enable":"true"}`},
	}
	f := newKitFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			instanceID, tenantID := kitIDs()
			a := f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 1, tc.user))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			// The next syncs read the shard the user is in.
			a = f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 1, `{"userName":"bob","enable":"true"}`))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			_, parts := storedDirectory(t, instanceID, tenantID)
			g.Expect(keysOf(parts[directory.Users])).To(ConsistOf("A/alice", "A/bob"))
			for _, e := range parts[directory.Users] {
				g.Expect(strings.Count(strings.ToLower(string(e.JSON)), `"appid"`)).To(Equal(1), "one appId in %s", e.JSON)
				g.Expect(string(e.JSON)).To(HavePrefix(`{"appId":"A",`))
			}

			a = f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 3, `{"userName":"alice"}`))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			_, parts = storedDirectory(t, instanceID, tenantID)
			g.Expect(keysOf(parts[directory.Users])).To(ConsistOf("A/bob"))
			a = f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 0, `{"userName":"bob"}`))
			g.Expect(a.Code).To(Equal("000000"), a.Msg)
			_, parts = storedDirectory(t, instanceID, tenantID)
			g.Expect(parts[directory.Users]).To(BeEmpty())
		})
	}
}

func keysOf(entries []directory.Entry) []string {
	keys := make([]string, 0, len(entries))
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}
