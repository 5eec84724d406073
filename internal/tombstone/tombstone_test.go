package tombstone

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFindReadsWhatRecordWrites(t *testing.T) {
	const id = "i-0123456789abcdef0123"
	for _, e := range []Entry{
		{Product: "crm", Kind: KindTenant},
		{Product: "crm", Kind: KindLicense},
		{Product: "crm", Kind: KindTenant, LostWithCRD: true},
		{Product: "crm", Kind: KindLicense, LostWithCRD: true},
	} {
		shard := &corev1.ConfigMap{Data: map[string]string{id: encode(e)}}
		got, ok := Find(shard, id)
		if !ok || got != e {
			t.Errorf("Find(encode(%+v)) = %+v, %v", e, got, ok)
		}
	}
}

func TestFindReadsEntriesOfEarlierVersionsAsReleased(t *testing.T) {
	shard := &corev1.ConfigMap{Data: map[string]string{"i-0123456789abcdef0123": "SaaSTenant/crm"}}
	got, ok := Find(shard, "i-0123456789abcdef0123")
	if want := (Entry{Product: "crm", Kind: KindTenant}); !ok || got != want {
		t.Errorf("Find = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := Find(shard, "i-ffffffffffffffffffff"); ok {
		t.Error("Find found an id the shard does not hold")
	}
}

// FuzzFind: whatever a shard holds (edited by hand, written by another
// version), Find neither panics nor reads an entry encode would write
// differently, so a value is never half-understood as lost.
func FuzzFind(f *testing.F) {
	for _, seed := range []string{"SaaSTenant/crm", "License/crm/lost-with-crd", "", "/", "//", "License/crm/other"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		e, ok := Find(&corev1.ConfigMap{Data: map[string]string{"i-0123456789abcdef0123": value}}, "i-0123456789abcdef0123")
		if !ok {
			t.Fatal("an entry that exists is not found")
		}
		if e.LostWithCRD && encode(e) != value {
			t.Fatalf("%q read as lost with its CRD, which writes %q", value, encode(e))
		}
	})
}
