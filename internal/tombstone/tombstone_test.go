package tombstone

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
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

// TestFindReadsTheStateALostRecordHad: an entry lost with its CRD says
// whether its instance was released then, so that a record restored from a
// backup older than the release is not served again; entries written by
// the versions before (no state) still read as lost and not released.
func TestFindReadsTheStateALostRecordHad(t *testing.T) {
	const id = "i-0123456789abcdef0123"
	for value, want := range map[string]Entry{
		"SaaSTenant/crm/lost-with-crd":          {Product: "crm", Kind: KindTenant, LostWithCRD: true},
		"License/crm/lost-with-crd":             {Product: "crm", Kind: KindLicense, LostWithCRD: true},
		"SaaSTenant/crm/lost-with-crd/released": {Product: "crm", Kind: KindTenant, LostWithCRD: true, ReleasedWhenLost: true},
		"License/crm/lost-with-crd/released":    {Product: "crm", Kind: KindLicense, LostWithCRD: true, ReleasedWhenLost: true},
	} {
		got, ok := Find(&corev1.ConfigMap{Data: map[string]string{id: value}}, id)
		if !ok || got != want {
			t.Errorf("Find(%q) = %+v, %v; want %+v", value, got, ok, want)
		}
		if encode(want) != value {
			t.Errorf("encode(%+v) = %q; want %q", want, encode(want), value)
		}
	}
}

// TestGoneLicencesListsLicencesReleasedBeforeTheirCRDWent: a licence
// released, then lost with its CRD, stays revoked; one lost while active
// is not revoked.
func TestGoneLicencesListsLicencesReleasedBeforeTheirCRDWent(t *testing.T) {
	const ns = "kooper-system"
	shard := newShard(ns, ShardPrefix+"01", "i-01000000000000000001", Entry{Product: "crm", Kind: KindLicense})
	for id, e := range map[string]Entry{
		"i-01000000000000000002": {Product: "crm", Kind: KindLicense, LostWithCRD: true, ReleasedWhenLost: true},
		"i-01000000000000000003": {Product: "crm", Kind: KindLicense, LostWithCRD: true},
		"i-01000000000000000004": {Product: "erp", Kind: KindLicense, LostWithCRD: true, ReleasedWhenLost: true},
		"i-01000000000000000005": {Product: "crm", Kind: KindTenant, LostWithCRD: true, ReleasedWhenLost: true},
	} {
		shard.Data[id] = encode(e)
	}
	reader := fake.NewClientBuilder().WithObjects(shard).Build()
	got, err := GoneLicences(context.Background(), reader, ns, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"i-01000000000000000001", "i-01000000000000000002"}; !slices.Equal(got, want) {
		t.Errorf("GoneLicences = %v; want %v", got, want)
	}
}

// FuzzFind: whatever a shard holds (edited by hand, written by another
// version), Find neither panics nor reads an entry encode would write
// differently, so a value is never half-understood as lost.
func FuzzFind(f *testing.F) {
	for _, seed := range []string{"SaaSTenant/crm", "License/crm/lost-with-crd", "License/crm/lost-with-crd/released", "SaaSTenant/crm/lost-with-crd/other", "", "/", "//", "License/crm/other"} {
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
