package koogallery

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	. "github.com/onsi/gomega"
)

const (
	kitApp     = `{"instanceId":"i-1","tenantId":"t-1","appId":"app-1","clientId":"cid","clientSecret":"c2VjcmV0","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}`
	kitAuth    = `{"instanceId":"i-1","tenantId":"t-1","appId":"app-1","userList":[{"userName":"zhang.san","name":"Zhang San","orgCode":"d1","role":"admin","enable":"true","extension":{"employeeType":1}}],"currentSyncTime":"20220413093539534","flag":1,"testFlag":1,"timeStamp":"20220413093539534"}`
	kitOrg     = `{"instanceId":"i-1","tenantId":"t-1","orgCode":"d2","orgName":"Sales","parentCode":"d1","flag":2,"testFlag":0,"timeStamp":"20220413093539534"}`
	kitAllOrgs = `{"instanceId":"i-1","tenantId":"t-1","orgInfoList":[{"orgCode":"d1","orgName":"HQ"},{"orgCode":"d2","orgName":"Sales","parentCode":"d1"}],"testFlag":0,"timeStamp":"20220413093539534"}`
)

// kitBodies are valid bodies of every interface, also the fuzz seeds.
var kitBodies = map[KitInterface]string{
	KitTenantSync: k1Body, KitApplicationSync: kitApp, KitAuthSync: kitAuth,
	KitSingleOrgSync: kitOrg, KitAllOrgSync: kitAllOrgs,
}

func TestDecodeKitRequestReadsEveryInterface(t *testing.T) {
	g := NewWithT(t)
	req, err := DecodeKitRequest(KitTenantSync, []byte(k1Body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req).To(Equal(&TenantSyncRequest{
		KitCommon: KitCommon{InstanceID: "huaiweitest123456", TenantID: "68cbc86f5b8e4d2f9d0a880d92f36422", TimeStamp: "20220413093539534"},
		OrderID:   "CS1906666666ABCDE", TenantCode: "huawei", Name: "huaiweitest", DomainName: "https://example.tenantaccount.com", Flag: KitAdd,
	}))

	req, err = DecodeKitRequest(KitAuthSync, []byte(kitAuth))
	g.Expect(err).NotTo(HaveOccurred())
	auth := req.(*AuthSyncRequest)
	g.Expect(auth.TestFlag).To(Equal(1))
	g.Expect(auth.Users).To(HaveLen(1))
	g.Expect(auth.Users[0].UserName).To(Equal("zhang.san"))
	g.Expect(string(auth.Users[0].Raw)).To(Equal(`{"userName":"zhang.san","name":"Zhang San","orgCode":"d1","role":"admin","enable":"true","extension":{"employeeType":1}}`))

	req, err = DecodeKitRequest(KitSingleOrgSync, []byte(kitOrg))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*SingleOrgSyncRequest).KitOrg).To(Equal(KitOrg{OrgCode: "d2", OrgName: "Sales", ParentCode: "d1"}))
	g.Expect(req.(*SingleOrgSyncRequest).Flag).To(Equal(KitModify))

	req, err = DecodeKitRequest(KitApplicationSync, []byte(kitApp))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*ApplicationSyncRequest).ClientSecret).To(Equal("c2VjcmV0"))
}

func TestDecodeKitRequestAcceptsTheOrgListAsArrayOrString(t *testing.T) {
	g := NewWithT(t)
	asString := `{"instanceId":"i-1","tenantId":"t-1","orgInfoList":"[{\"orgCode\":\"d1\",\"orgName\":\"HQ\"},{\"orgCode\":\"d2\",\"orgName\":\"Sales\",\"parentCode\":\"d1\"}]","testFlag":0,"timeStamp":"1"}`
	for _, body := range []string{kitAllOrgs, asString} {
		req, err := DecodeKitRequest(KitAllOrgSync, []byte(body))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(req.(*AllOrgSyncRequest).Orgs).To(Equal([]KitOrg{{OrgCode: "d1", OrgName: "HQ"}, {OrgCode: "d2", OrgName: "Sales", ParentCode: "d1"}}))
	}
}

// TestDecodeKitRequestReadsLooseTypes: a string field may come as a number
// or boolean (read as its text), and userList, like orgInfoList, as a
// string holding the array. The integers flag and testFlag stay integers.
func TestDecodeKitRequestReadsLooseTypes(t *testing.T) {
	g := NewWithT(t)
	req, err := DecodeKitRequest(KitTenantSync, []byte(strings.Replace(k1Body, `"68cbc86f5b8e4d2f9d0a880d92f36422"`, `68`, 1)))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*TenantSyncRequest).TenantID).To(Equal("68"))

	users := `[{"userName":1001,"name":"Zhang San"},{"userName":"li.si"}]`
	spaced := "[ {\"userName\": 1001, \"name\": \"Zhang San\"},\n {\"userName\": \"li.si\"} ]"
	for _, list := range []string{users, quoted(users), quoted(spaced)} {
		body := `{"instanceId":"i-1","tenantId":"t-1","appId":"app-1","userList":` + list + `,"flag":1,"testFlag":1,"timeStamp":"1"}`
		req, err := DecodeKitRequest(KitAuthSync, []byte(body))
		g.Expect(err).NotTo(HaveOccurred(), body)
		auth := req.(*AuthSyncRequest)
		g.Expect(auth.Users).To(HaveLen(2))
		g.Expect(auth.Users[0].UserName).To(Equal("1001"))
		g.Expect(string(auth.Users[0].Raw)).To(Equal(`{"userName":1001,"name":"Zhang San"}`))
		g.Expect(auth.Users[1].UserName).To(Equal("li.si"))
	}

	req, err = DecodeKitRequest(KitAllOrgSync, []byte(`{"instanceId":"i","tenantId":"t","orgInfoList":[{"orgCode":10,"orgName":"HQ"},{"orgCode":11,"orgName":true,"parentCode":10}],"testFlag":0,"timeStamp":"1"}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*AllOrgSyncRequest).Orgs).To(Equal([]KitOrg{{OrgCode: "10", OrgName: "HQ"}, {OrgCode: "11", OrgName: "true", ParentCode: "10"}}))
}

func TestDecodeKitRequestRefusesBadInput(t *testing.T) {
	users := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"userName":"u%d"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	long := strings.Repeat("x", 65)
	cases := []struct {
		name    string
		kit     KitInterface
		body    string
		wantMsg string
	}{
		{"not an object", KitTenantSync, `[1]`, "not a JSON object"},
		{"trailing data", KitTenantSync, k1Body + `{}`, "single valid JSON value"},
		{"unknown interface", "userSync", k1Body, "unknown kit interface"},
		{"flag as a string", KitTenantSync, strings.Replace(k1Body, `"flag":1`, `"flag":"1"`, 1), "flag must be an integer"},
		{"flag as a fraction", KitTenantSync, strings.Replace(k1Body, `"flag":1`, `"flag":1.0`, 1), "flag must be an integer"},
		{"flag out of range", KitTenantSync, strings.Replace(k1Body, `"flag":1`, `"flag":3`, 1), "flag must be between 0 and 2"},
		{"cancel authorisation outside authSync", KitSingleOrgSync, strings.Replace(kitOrg, `"flag":2`, `"flag":3`, 1), "between 0 and 2"},
		{"negative flag", KitAuthSync, strings.Replace(kitAuth, `"flag":1`, `"flag":-1`, 1), "between 0 and 3"},
		{"testFlag 2", KitTenantSync, strings.Replace(k1Body, `"testFlag":0`, `"testFlag":2`, 1), "testFlag must be 0 or 1"},
		{"testFlag as the string 2", KitTenantSync, strings.Replace(k1Body, `"testFlag":0`, `"testFlag":"2"`, 1), "testFlag must be 0 or 1"},
		{"testFlag as a boolean", KitTenantSync, strings.Replace(k1Body, `"testFlag":0`, `"testFlag":true`, 1), "testFlag must be 0 or 1"},
		{"testFlag as a fraction", KitTenantSync, strings.Replace(k1Body, `"testFlag":0`, `"testFlag":1.0`, 1), "testFlag must be 0 or 1"},
		{"testFlag empty", KitTenantSync, strings.Replace(k1Body, `"testFlag":0`, `"testFlag":""`, 1), "testFlag must be 0 or 1"},
		{"timeStamp missing", KitTenantSync, strings.Replace(k1Body, `,"timeStamp":"20220413093539534"`, ``, 1), "timeStamp is required"},
		{"instanceId null", KitTenantSync, strings.Replace(k1Body, `"huaiweitest123456"`, `null`, 1), "instanceId is required"},
		{"tenantId as an object", KitTenantSync, strings.Replace(k1Body, `"68cbc86f5b8e4d2f9d0a880d92f36422"`, `{}`, 1), "tenantId must be a string"},
		{"userList a string holding an object", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":"{}","flag":1,"testFlag":0,"timeStamp":"1"}`, "userList must be an array of users, or a string holding one"},
		{"userName an object", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":[{"userName":{}}],"flag":1,"testFlag":0,"timeStamp":"1"}`, "userList[0] must be an object whose userName is a string"},
		{"orgCode an array", KitAllOrgSync, `{"instanceId":"i","tenantId":"t","orgInfoList":[{"orgCode":["a"],"orgName":"A"}],"testFlag":0,"timeStamp":"1"}`, "orgInfoList must be an array of departments"},
		{"tenantCode too long", KitTenantSync, strings.Replace(k1Body, `"huawei"`, `"`+long+`"`, 1), "tenantCode must be at most 64"},
		{"domainName missing on add", KitTenantSync, strings.Replace(k1Body, `"domainName":"https://example.tenantaccount.com",`, ``, 1), "domainName is required"},
		{"clientSecret missing on add", KitApplicationSync, strings.Replace(kitApp, `"clientSecret":"c2VjcmV0",`, ``, 1), "clientSecret is required"},
		{"appId missing", KitApplicationSync, strings.Replace(kitApp, `"appId":"app-1",`, ``, 1), "appId is required"},
		{"userList missing", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","flag":1,"testFlag":0,"timeStamp":"1"}`, "userList is required"},
		{"userList an object", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":{},"flag":1,"testFlag":0,"timeStamp":"1"}`, "userList must be an array"},
		{"501 users", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":` + users(501) + `,"flag":1,"testFlag":0,"timeStamp":"1"}`, "has 501 users, more than 500"},
		{"user without userName", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":[{"name":"x"}],"flag":1,"testFlag":0,"timeStamp":"1"}`, "userList[0].userName is required"},
		{"user not an object", KitAuthSync, `{"instanceId":"i","tenantId":"t","appId":"a","userList":["x"],"flag":1,"testFlag":0,"timeStamp":"1"}`, "userList[0] must be an object"},
		{"orgInfoList missing", KitAllOrgSync, `{"instanceId":"i","tenantId":"t","testFlag":0,"timeStamp":"1"}`, "orgInfoList is required"},
		{"orgInfoList a broken string", KitAllOrgSync, `{"instanceId":"i","tenantId":"t","orgInfoList":"[{","testFlag":0,"timeStamp":"1"}`, "orgInfoList must be an array"},
		{"department without a name", KitAllOrgSync, `{"instanceId":"i","tenantId":"t","orgInfoList":[{"orgCode":"a"}],"testFlag":0,"timeStamp":"1"}`, "orgInfoList[0].orgName is required"},
		{"singleOrgSync without orgCode", KitSingleOrgSync, strings.Replace(kitOrg, `"orgCode":"d2",`, ``, 1), "orgCode is required"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			req, err := DecodeKitRequest(tt.kit, []byte(tt.body))
			g.Expect(req).To(BeNil())
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantMsg)))
			g.Expect(CodeOf(err)).To(Equal(ResultInvalidParam))
		})
	}
}

// TestDecodeKitRequestTestFlag: testFlag is an Integer on the kit pages but
// "not carried" for non-debug calls on the 2025 pages (§1.9, §8 item 11), so
// a missing flag reads as 0 (production), as a basic callback's does, and
// the strings "0" and "1" read as the integers.
func TestDecodeKitRequestTestFlag(t *testing.T) {
	tests := []struct {
		name  string
		field string // added to a body without testFlag
		want  int
	}{
		{"0", `,"testFlag":0`, 0},
		{"1", `,"testFlag":1`, 1},
		{`"0"`, `,"testFlag":"0"`, 0},
		{`"1"`, `,"testFlag":"1"`, 1},
		{"missing", ``, 0},
		{"null", `,"testFlag":null`, 0},
	}
	withoutFlag := regexp.MustCompile(`,"testFlag":[01]`)
	for _, tt := range tests {
		for kit, body := range kitBodies {
			t.Run(tt.name+"/"+string(kit), func(t *testing.T) {
				g := NewWithT(t)
				g.Expect(withoutFlag.MatchString(body)).To(BeTrue())
				body = withoutFlag.ReplaceAllLiteralString(body, ``)
				body = strings.TrimSuffix(body, `}`) + tt.field + `}`
				req, err := DecodeKitRequest(kit, []byte(body))
				g.Expect(err).NotTo(HaveOccurred(), body)
				g.Expect(reflect.ValueOf(req).Elem().FieldByName("TestFlag").Int()).To(BeEquivalentTo(tt.want), body)
			})
		}
	}
}

func TestDecodeKitRequestNeedsLessForADelete(t *testing.T) {
	g := NewWithT(t)
	req, err := DecodeKitRequest(KitTenantSync, []byte(`{"instanceId":"i","tenantId":"t","flag":0,"testFlag":0,"timeStamp":"1"}`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(req.(*TenantSyncRequest).Flag).To(Equal(KitDelete))
	_, err = DecodeKitRequest(KitApplicationSync, []byte(`{"instanceId":"i","tenantId":"t","appId":"a","flag":0,"testFlag":0,"timeStamp":"1"}`))
	g.Expect(err).NotTo(HaveOccurred())
}

func FuzzDecodeKitRequest(f *testing.F) {
	for name, body := range kitBodies {
		f.Add(string(name), []byte(body))
	}
	f.Add(string(KitAllOrgSync), []byte(`{"instanceId":"i","tenantId":"t","orgInfoList":"[]","testFlag":0,"timeStamp":"1"}`))
	f.Add(string(KitAuthSync), []byte(`{"userList":[null,{"userName":null}],"flag":1e3}`))
	// Loosely typed forms (issue 16): numbers for strings, lists as strings.
	f.Add(string(KitAuthSync), []byte(`{"instanceId":1,"tenantId":true,"appId":"a","userList":"[{\"userName\":1001}]","flag":1,"testFlag":0,"timeStamp":20220413093539534}`))
	f.Add(string(KitAllOrgSync), []byte(`{"instanceId":"i","tenantId":"t","orgInfoList":[{"orgCode":10,"orgName":false,"parentCode":null}],"testFlag":0,"timeStamp":"1"}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		req, err := DecodeKitRequest(KitInterface(name), body)
		if err != nil {
			var verr *ValidationError
			if !errors.Is(err, ErrMalformedBody) && !errors.As(err, &verr) {
				t.Fatalf("error %v is neither malformed body nor a validation error", err)
			}
			if req != nil {
				t.Fatalf("a request came back with error %v", err)
			}
			return
		}
		if auth, ok := req.(*AuthSyncRequest); ok {
			if len(auth.Users) > MaxKitUsers {
				t.Fatalf("%d users accepted", len(auth.Users))
			}
			// Every user names one; an add's name can be stored.
			for _, u := range auth.Users {
				if u.UserName == "" || (!auth.Removing() && utf8.RuneCountInString(u.UserName) > 64) {
					t.Fatalf("user %d accepted with a userName of %d characters", u.Index, utf8.RuneCountInString(u.UserName))
				}
			}
		}
		// A body that decodes also canonicalises, so it can be verified.
		if _, err := CanonicalKitPayload(body); err != nil {
			t.Fatalf("decoded but does not canonicalise: %v", err)
		}
	})
}

func TestNameOrWithheldQuotesOnlyANameShape(t *testing.T) {
	for s, want := range map[string]string{
		"userSync":              `"userSync"`,
		"13812345678":           "(its value is not a name and is not shown)",
		"a@example.com":         "(its value is not a name and is not shown)",
		strings.Repeat("a", 33): "(its value is not a name and is not shown)",
	} {
		if got := NameOrWithheld(s); got != want {
			t.Errorf("NameOrWithheld(%q) = %s, want %s", s, got, want)
		}
	}
}
