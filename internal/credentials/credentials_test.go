package credentials

import (
	"strings"
	"testing"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testKey(t testing.TB, secret []byte) Key {
	t.Helper()
	k, err := NewKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAPasswordNeverChanges pins the derivation: a password already given
// to a buyer in appInfo must come out the same from every later kooper.
func TestAPasswordNeverChanges(t *testing.T) {
	k := testKey(t, testSecret)
	if got, want := k.ID(), "3eb1bd439947eb76"; got != want {
		t.Errorf("ID() = %q, want %q", got, want)
	}
	for id, want := range map[string]string{
		"instance-1": "+preePZH7=ppiJ39ddsdEQr6",
		"instance-2": "#t=CHe!m#2@mVwW!SBSg=e2t",
	} {
		got, err := k.Password(id)
		if err != nil || got != want {
			t.Errorf("Password(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
}

func TestAPasswordDependsOnTheKeyAndTheInstance(t *testing.T) {
	a := testKey(t, testSecret)
	other := append([]byte{}, testSecret...)
	other[0] ^= 1
	b := testKey(t, other)
	if a.ID() == b.ID() {
		t.Fatalf("two keys share the ID %s", a.ID())
	}
	pa, _ := a.Password("instance-1")
	pb, _ := b.Password("instance-1")
	pc, _ := a.Password("instance-10")
	if pa == pb || pa == pc {
		t.Errorf("passwords repeat: key a %q, key b %q, another instance %q", pa, pb, pc)
	}
}

func TestAShortKeyIsRefused(t *testing.T) {
	if _, err := NewKey(testSecret[:KeySize-1]); err == nil {
		t.Error("NewKey accepted a key of 31 bytes")
	}
}

func TestGenerateMakesAUsableKey(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if string(a) == string(b) {
		t.Error("two generated keys are equal")
	}
	if _, err := testKey(t, a).Password("instance-1"); err != nil {
		t.Error(err)
	}
}

// FuzzPassword: any instance ID gives a password of the policy's shape.
func FuzzPassword(f *testing.F) {
	f.Add("instance-1", testSecret)
	f.Add("", make([]byte, KeySize))
	f.Fuzz(func(t *testing.T, id string, secret []byte) {
		k, err := NewKey(secret)
		if err != nil {
			return
		}
		p, err := k.Password(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != PasswordLength {
			t.Fatalf("password %q has %d characters", p, len(p))
		}
		for _, class := range []string{lower, upper, digits, symbols} {
			if !strings.ContainsAny(p, class) {
				t.Fatalf("password %q lacks a character of %q", p, class)
			}
		}
		if again, _ := k.Password(id); again != p {
			t.Fatalf("the same key and instance gave %q, then %q", p, again)
		}
	})
}
