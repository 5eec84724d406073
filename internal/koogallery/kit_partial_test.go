package koogallery

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

// authSyncOf is an authSync of app-1 carrying the user objects given.
func authSyncOf(flag KitFlag, users ...string) string {
	return fmt.Sprintf(`{"instanceId":"i","tenantId":"t","appId":"app-1","userList":[%s],"currentSyncTime":"1","flag":%d,"testFlag":0,"timeStamp":"1"}`,
		strings.Join(users, ","), flag)
}

func userNames(users []KitUser) []string {
	names := make([]string, 0, len(users))
	for _, u := range users {
		names = append(names, u.UserName)
	}
	return names
}

// overlongUser has a userName of 65 characters, one more than the spec's
// 64 (§3.11.3), so no add ever stored it.
var overlongUser = `{"userName":"` + strings.Repeat("x", 65) + `"}`

// TestDecodeAuthSyncRemovalNeedsOnlyAUserName: a delete (0) or a
// cancellation (3) names the users to remove, and a userName longer than
// an add accepts names a user that cannot be stored, so removing it is a
// no-op, not a reason to refuse the batch: the others would keep access.
func TestDecodeAuthSyncRemovalNeedsOnlyAUserName(t *testing.T) {
	for _, flag := range []KitFlag{KitDelete, KitCancelAuth} {
		t.Run(fmt.Sprint(flag), func(t *testing.T) {
			g := NewWithT(t)
			req, err := DecodeKitRequest(KitAuthSync, []byte(authSyncOf(flag, `{"userName":"a"}`, overlongUser, `{"userName":"b"}`)))
			g.Expect(err).NotTo(HaveOccurred())
			auth := req.(*AuthSyncRequest)
			g.Expect(userNames(auth.Users)).To(Equal([]string{"a", strings.Repeat("x", 65), "b"}))
			g.Expect(auth.Refused).To(BeEmpty())
			g.Expect(auth.Refusal()).To(Succeed())
		})
	}
}

// TestDecodeAuthSyncKeepsTheUsablePartOfABatch: an entry that identifies
// no user (no userName) or, in an add or modify, cannot be stored (a
// userName over 64 characters) is refused on its own, named by index;
// the other users of the batch are still decoded, with their index.
func TestDecodeAuthSyncKeepsTheUsablePartOfABatch(t *testing.T) {
	cases := []struct {
		name      string
		flag      KitFlag
		bad       string
		wantUsers []string
		wantMsg   string
	}{
		{"add, overlong", KitAdd, overlongUser, []string{"a", "b"}, "userList[1].userName must be at most 64 characters"},
		{"modify, overlong", KitModify, overlongUser, []string{"a", "b"}, "userList[1].userName must be at most 64 characters"},
		{"add, no userName", KitAdd, `{"name":"x"}`, []string{"a", "b"}, "userList[1].userName is required"},
		{"cancel, no userName", KitCancelAuth, `{"name":"x"}`, []string{"a", "b"}, "userList[1].userName is required"},
		{"delete, userName an object", KitDelete, `{"userName":{}}`, []string{"a", "b"}, "userList[1] must be an object whose userName is a string"},
		{"cancel, not an object", KitCancelAuth, `"x"`, []string{"a", "b"}, "userList[1] must be an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := DecodeKitRequest(KitAuthSync, []byte(authSyncOf(tc.flag, `{"userName":"a"}`, tc.bad, `{"userName":"b"}`)))
			g.Expect(err).NotTo(HaveOccurred())
			auth := req.(*AuthSyncRequest)
			g.Expect(userNames(auth.Users)).To(Equal(tc.wantUsers))
			g.Expect(auth.Users[0].Index).To(Equal(0))
			g.Expect(auth.Users[1].Index).To(Equal(2))
			refusal := auth.Refusal()
			g.Expect(refusal).To(MatchError(ContainSubstring(tc.wantMsg)))
			g.Expect(refusal).To(MatchError(ContainSubstring("1 of 3 users")))
			g.Expect(CodeOf(refusal)).To(Equal(ResultInvalidParam))
		})
	}
}

// TestDecodeAuthSyncRefusalIsShort: the refusal goes into resultMsg (at
// most 255 characters, §5) and names entries by index only, never a
// userName, which may be personal data.
func TestDecodeAuthSyncRefusalIsShort(t *testing.T) {
	g := NewWithT(t)
	users := make([]string, 0, MaxKitUsers)
	for i := range MaxKitUsers {
		if i%5 == 0 {
			users = append(users, fmt.Sprintf(`{"userName":"u%d"}`, i))
		} else {
			users = append(users, `{"userName":"13812345678`+strings.Repeat("9", 60)+`"}`)
		}
	}
	req, err := DecodeKitRequest(KitAuthSync, []byte(authSyncOf(KitAdd, users...)))
	g.Expect(err).NotTo(HaveOccurred())
	auth := req.(*AuthSyncRequest)
	g.Expect(auth.Users).To(HaveLen(100))
	msg := auth.Refusal().Error()
	g.Expect(utf8.RuneCountInString(msg)).To(BeNumerically("<=", 255), msg)
	g.Expect(msg).To(HavePrefix("userList: 400 of 500 users were not applied (the other 100 were): userList[1].userName must be at most 64 characters"))
	g.Expect(msg).To(HaveSuffix("and 397 more"))
	g.Expect(msg).NotTo(ContainSubstring("13812345678"))
}

// TestDecodeAllOrgSyncKeepsTheLastCopyOfACode: the spec does not make a
// repeated orgCode invalid (§3.11.5: the whole tree as a flat list, which
// replaces the stored one), and directory.Replace keeps the last entry of
// a key, so the decoder does the same instead of refusing the tree.
func TestDecodeAllOrgSyncKeepsTheLastCopyOfACode(t *testing.T) {
	g := NewWithT(t)
	body := `{"instanceId":"i","tenantId":"t","orgInfoList":[{"orgCode":"a","orgName":"A"},{"orgCode":"b","orgName":"B","parentCode":"a"},{"orgCode":"a","orgName":"A2"}],"testFlag":0,"timeStamp":"1"}`
	req, err := DecodeKitRequest(KitAllOrgSync, []byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*AllOrgSyncRequest).Orgs).To(Equal([]KitOrg{{OrgCode: "a", OrgName: "A2"}, {OrgCode: "b", OrgName: "B", ParentCode: "a"}}))
}
