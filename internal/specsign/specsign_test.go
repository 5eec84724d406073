package specsign

import "testing"

// The spec's own vector B1 (§2.1.4): the independent signer must agree with
// it before tests may trust it.
func TestVectorB1(t *testing.T) {
	const body = `{"activity":"newInstance","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","testFlag":"1"}`
	payload, err := Payload(body, false)
	if err != nil {
		t.Fatal(err)
	}
	const wantPayload = `{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}`
	if string(payload) != wantPayload {
		t.Fatalf("payload %s, want %s", payload, wantPayload)
	}
	got := Signature("test-access-key", "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA", "1680508066618", payload)
	if want := "271544acdac82601d0a6615631c4db54120d5ea32fc968493c8064281e125c7a"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestStringMapWritesTopLevelScalarsAsStrings(t *testing.T) {
	payload, err := Payload(`{"b":1,"a":true,"c":{"n":2},"d":null,"e":"x"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"true","b":"1","c":{"n":2},"e":"x"}`; string(payload) != want {
		t.Fatalf("payload %s, want %s", payload, want)
	}
}
