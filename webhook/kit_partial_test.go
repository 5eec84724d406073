package webhook

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
)

// overlongUserName is one character over the spec's 64 (§3.11.3): an add
// of it is refused, so no directory holds it.
var overlongUserName = strings.Repeat("x", 65)

// TestACancelWithOneOverlongUserNameRemovesTheOthers: kit calls are not
// retried (spec §1.7) and a resend carries the same batch, so a
// cancellation refused whole for one name that cannot be stored left every
// other user of the batch admitted by the SSO gateway for good.
func TestACancelWithOneOverlongUserNameRemovesTheOthers(t *testing.T) {
	f := newKitFixture(t)
	for _, flag := range []int{3, 0} {
		g := NewWithT(t)
		instanceID, tenantID := kitIDs()
		a := f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 1,
			`{"userName":"a","enable":"true"}`, `{"userName":"b","enable":"true"}`, `{"userName":"c","enable":"true"}`))
		g.Expect(a.Code).To(Equal("000000"), a.Msg)

		a = f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", flag,
			`{"userName":"a"}`, `{"userName":"`+overlongUserName+`"}`, `{"userName":"b"}`))
		g.Expect(a.Code).To(Equal("000000"), "flag %d: %s", flag, a.Msg)
		_, parts := storedDirectory(t, instanceID, tenantID)
		g.Expect(keysOf(parts[directory.Users])).To(ConsistOf("A/c"), "flag %d", flag)
	}
}

// TestACancelWithAnUnnamedUserRemovesTheOthers: an entry without a
// userName identifies nobody, so it cannot be removed; the others are, and
// the answer names the entry (000002) rather than claim the whole
// cancellation succeeded.
func TestACancelWithAnUnnamedUserRemovesTheOthers(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	a := f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 1, `{"userName":"a"}`, `{"userName":"b"}`))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)

	a = f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 3, `{"userName":"a"}`, `{"name":"nobody"}`))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring("userList[1].userName is required"))
	g.Expect(a.Msg).To(ContainSubstring("1 of 2 users were not applied"))
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(keysOf(parts[directory.Users])).To(ConsistOf("A/b"))
}

// TestAnAddWithOneOverlongUserNameAddsTheOthers: the other users of the
// batch are authorised, and the answer is 000002 naming the entry by
// index, so the marketplace shows or e-mails the failure (spec §5) and no
// user is dropped under a success.
func TestAnAddWithOneOverlongUserNameAddsTheOthers(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	a := f.kit(t, koogallery.KitAuthSync, authSyncUsers(instanceID, tenantID, "A", 1,
		`{"userName":"a"}`, `{"userName":"`+overlongUserName+`"}`, `{"userName":"b"}`))
	g.Expect(a.Code).To(Equal("000002"))
	g.Expect(a.Msg).To(ContainSubstring("userList[1].userName must be at most 64 characters"))
	g.Expect(a.Msg).NotTo(ContainSubstring(overlongUserName))
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(keysOf(parts[directory.Users])).To(ConsistOf("A/a", "A/b"))
}

// TestAllOrgSyncWithARepeatedOrgCodeKeepsTheLastCopy: the tree is stored,
// not refused, with the last copy of the repeated department.
func TestAllOrgSyncWithARepeatedOrgCodeKeepsTheLastCopy(t *testing.T) {
	g := NewWithT(t)
	f := newKitFixture(t)
	instanceID, tenantID := kitIDs()
	list := `[{"orgCode":"d1","orgName":"HQ"},{"orgCode":"d2","orgName":"Sales","parentCode":"d1"},{"orgCode":"d1","orgName":"Head office"}]`
	a := f.kit(t, koogallery.KitAllOrgSync, allOrgSyncBody(instanceID, tenantID, list))
	g.Expect(a.Code).To(Equal("000000"), a.Msg)
	_, parts := storedDirectory(t, instanceID, tenantID)
	g.Expect(keysOf(parts[directory.Departments])).To(ConsistOf("d1", "d2"))
	for _, e := range parts[directory.Departments] {
		if e.Key == "d1" {
			g.Expect(string(e.JSON)).To(ContainSubstring(`"Head office"`))
		}
	}
}
