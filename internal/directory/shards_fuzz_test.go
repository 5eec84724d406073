package directory

import (
	"slices"
	"testing"
)

// ParseDataKey accepts exactly the keys DataKey writes for indexes from 0.
// "users--01.json" was read as shard -1 before: %03d reads "-01", and
// DataKey(Users, -1) writes the same key back.
func TestParseDataKeyAcceptsOnlyKeysDataKeyWrites(t *testing.T) {
	for _, tc := range []struct {
		part  Part
		key   string
		index int
		ok    bool
	}{
		{Users, "users-000.json", 0, true},
		{Users, "users-007.json", 7, true},
		{Departments, "departments-999.json", 999, true},
		{Users, "users-1000.json", 0, false}, // %03d reads three digits: 999 = MaxShards-1 at most
		{Users, "users--01.json", 0, false},
		{Users, "users--1.json", 0, false},
		{Users, "users--99.json", 0, false},
		{Departments, "departments--01.json", 0, false},
		{Users, "users-+01.json", 0, false},
		{Users, "users- 01.json", 0, false},
		{Users, "users-7.json", 0, false},
		{Users, "users-007.json.bak", 0, false},
		{Users, "departments-007.json", 0, false},
		{Users, "users-007", 0, false},
		{Users, "", 0, false},
	} {
		index, ok := ParseDataKey(tc.part, tc.key)
		if index != tc.index || ok != tc.ok {
			t.Errorf("ParseDataKey(%s, %q) = %d, %v; want %d, %v", tc.part, tc.key, index, ok, tc.index, tc.ok)
		}
	}
}

// Every shard kooper can write reads back as its own index.
func TestEveryShardsDataKeyParsesBack(t *testing.T) {
	for _, part := range []Part{Users, Departments} {
		for i := range MaxShards {
			if got, ok := ParseDataKey(part, DataKey(part, i)); !ok || got != i {
				t.Fatalf("DataKey(%s, %d) parses as %d, %v", part, i, got, ok)
			}
		}
	}
}

// FuzzParseDataKey: a Secret's data keys come from whoever wrote the Secret;
// a key that parses has an index from 0 and is the key DataKey writes for it.
func FuzzParseDataKey(f *testing.F) {
	for _, seed := range []string{"users-000.json", "departments-042.json", "users--01.json", "users-+01.json", "users-1000.json", "tenant.json", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		for _, part := range []Part{Users, Departments} {
			index, ok := ParseDataKey(part, key)
			if ok && (index < 0 || DataKey(part, index) != key) {
				t.Fatalf("ParseDataKey(%s, %q) = %d, not the key of a shard kooper writes", part, key, index)
			}
		}
	})
}

// FuzzDecode: a shard's data comes from a Secret anyone with write access to
// the namespace may have changed. Decode refuses or returns entries whose
// keys are those of their JSON, and which Encode writes back unchanged.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"appId":"app-1","userName":"alice","name":"Alice","orgCode":"1001","role":"user","enable":"true"}]`,
		`[{"appId":"app-1","userName":13812345678},{"appId":"app-1","userName":"bob"}]`,
		`[{"orgCode":"1001","orgName":"Sales","parentCode":"0"},{"orgCode":42}]`,
		`[{"appId":{"x":1},"userName":"u"}]`,
		`[null,1,"x"]`,
		`{"userName":"u"}`,
		`[{"appId":"a","AppId":"b","userName":"u"}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, part := range []Part{Users, Departments} {
			entries, err := Decode(part, data)
			if err != nil {
				continue
			}
			for _, e := range entries {
				if key, err := KeyOf(part, e.JSON); err != nil || key != e.Key {
					t.Fatalf("entry %s decoded under %q, reads as %q (%v)", e.JSON, e.Key, key, err)
				}
			}
			again, err := Decode(part, Encode(entries))
			if err != nil || !slices.EqualFunc(again, entries, equalEntry) {
				t.Fatalf("%s: Encode(Decode) decodes as %v (%v), not %v", part, again, err, entries)
			}
		}
	})
}
