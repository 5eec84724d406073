package directory

import (
	"encoding/json"
	"testing"

	"github.com/kooper-io/kooper/internal/koogallery"
)

// FuzzAStoredUserKeepsTheReceiversKey: every user koogallery's decoder
// accepts, stored as the receiver stores it (WithField), reads back with
// exactly the key the receiver computed from the decoded request.
func FuzzAStoredUserKeepsTheReceiversKey(f *testing.F) {
	for _, seed := range []string{
		`{"userName":"alice","name":"A","orgCode":1001,"role":"user","enable":"true"}`,
		`{"userName":"alice","appId":"B"}`,
		`{"userName":"alice","AppId":5,"APPID":{"x":[1]},"appid":null}`,
		`{"userName":13812345678,"USERNAME":"bob","UserName":null}`,
		`{"userName":"a\u006c","app\u0049d":true}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, user string) {
		body := `{"instanceId":"i","tenantId":"t","appId":"A","userList":[` + user + `],"flag":1,"testFlag":0,"timeStamp":"1"}`
		if !json.Valid([]byte(body)) {
			return
		}
		req, err := koogallery.DecodeKitRequest(koogallery.KitAuthSync, []byte(body))
		if err != nil {
			return
		}
		users := req.(*koogallery.AuthSyncRequest).Users
		if len(users) != 1 {
			return
		}
		u := users[0]
		item, err := WithField(u.Raw, "appId", "A")
		if err != nil {
			t.Fatalf("WithField refused a decoded user: %v", err)
		}
		key, err := KeyOf(Users, item)
		if err != nil || key != UserKey("A", u.UserName) {
			t.Fatalf("stored under %q, read back as %q (%v)", UserKey("A", u.UserName), key, err)
		}
	})
}
