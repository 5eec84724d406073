package apply

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kooper-io/kooper/internal/redact"
)

// chartSecret is a Secret as a chart renders it: user in data, and port in
// stringData with the value a template gave it.
func chartSecret(port any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"namespace": "tenant-a", "name": "db"},
		"data":       map[string]any{"user": "YWRtaW4="}, // admin
		"stringData": map[string]any{"port": port, "password": "s3cret"}}}
}

// The apply patch of a chart's Secret carries its stringData as the API
// server would store it, or is refused as the API server refuses it (a
// server-side apply answers "expected string", a create "cannot unmarshal
// number into Go struct field Secret.stringData of type string"): a value
// that is not a string must not vanish, leaving the tenant's app without
// the key. A null is stored as an empty value, as the API server does.
func TestAChartSecretsStringDataIsFoldedOrRefusedAsTheAPIServerDoes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		port     any
		wantPort string // the decoded data value, when accepted
		wantErr  string // the refusal's detail, when refused
	}{
		{name: "string", port: "5432", wantPort: "5432"},
		{name: "empty string", port: "", wantPort: ""},
		{name: "null", port: nil, wantPort: ""},
		{name: "integer", port: int64(5432), wantErr: "is a number, not a string; quote it in the chart"},
		{name: "float", port: 54.32, wantErr: "is a number, not a string; quote it in the chart"},
		{name: "bool", port: true, wantErr: "is a boolean, not a string; quote it in the chart"},
		{name: "nested map", port: map[string]any{"tcp": "5432"}, wantErr: "is an object, not a string"},
		{name: "list", port: []any{"5432"}, wantErr: "is a list, not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := desiredMap(chartSecret(tc.port))
			if tc.wantErr != "" {
				requireStringDataRefusal(t, err, "port", tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("desiredMap: %v", err)
			}
			if _, ok := m["stringData"]; ok {
				t.Errorf("the patch keeps stringData, which the API server never returns: %v", m)
			}
			data, _ := m["data"].(map[string]any)
			for key, want := range map[string]string{"user": "admin", "password": "s3cret", "port": tc.wantPort} {
				got, ok := data[key].(string)
				if !ok {
					t.Errorf("data.%s missing from the patch; data = %v", key, data)
					continue
				}
				if decoded, err := base64.StdEncoding.DecodeString(got); err != nil || string(decoded) != want {
					t.Errorf("data.%s = %q (%q, %v), want %q base64 encoded", key, got, decoded, err, want)
				}
			}
		})
	}
}

// requireStringDataRefusal checks that err is the API server's kind of
// refusal (422 Invalid, which the tenant controller reports as the
// tenant's ObjectInvalid condition and stops retrying), naming the Secret
// and stringData.<key>, without the value: it may be secret.
func requireStringDataRefusal(t *testing.T, err error, key, detail string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want stringData.%s refused (%s)", key, detail)
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("error %v (%T) is not an Invalid status", err, err)
	}
	if !strings.Contains(err.Error(), `Secret "db"`) {
		t.Errorf("error %q does not name the Secret", err)
	}
	causes := status.Status().Details.Causes
	if len(causes) != 1 || causes[0].Field != "stringData."+key || !strings.HasSuffix(causes[0].Message, ": "+detail) {
		t.Errorf("causes = %+v, want one for stringData.%s ending %q", causes, key, detail)
	}
	if strings.Contains(err.Error(), "54") || strings.Contains(err.Error(), "true") {
		t.Errorf("error %q quotes the value", err)
	}
	// What the tenant's condition shows (the tenant controller's
	// apiMessage): the key and how to fix it.
	if want := "stringData." + key + ": " + detail; !strings.Contains(redact.Reason(err), want) {
		t.Errorf("the condition's reason %q does not say %q", redact.Reason(err), want)
	}
}

// FuzzFoldStringData holds foldStringData to the API server's decoding of
// a Secret (JSON into corev1.Secret, whose stringData is a map of
// strings): for any stringData object it refuses exactly what that
// decoding refuses, and otherwise writes the data the API server would
// store, stringData over data.
func FuzzFoldStringData(f *testing.F) {
	for _, seed := range []string{`{}`, `{"port":"5432"}`, `{"port":5432}`, `{"user":"root","port":null}`,
		`{"on":true}`, `{"a":{"b":"c"}}`, `{"a":["b"]}`, `{"a":1.5e3,"b":"x"}`, `{"user":7}`, `{"a":1,"a":"x"}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stringData string) {
		doc := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},` +
			`"data":{"user":"YWRtaW4=","host":"ZGI="},"stringData":` + stringData + `}`)
		obj, _, err := unstructured.UnstructuredJSONScheme.Decode(doc, nil, nil)
		if err != nil {
			t.Skip("not JSON")
		}
		m := obj.(*unstructured.Unstructured).Object
		if _, ok := m["stringData"].(map[string]any); !ok {
			t.Skip("stringData is not an object: left to the API server")
		}
		// What the client sends: the map, without the duplicate keys a
		// document may hold.
		wire, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var want corev1.Secret
		decodeErr := json.Unmarshal(wire, &want)
		before := runtime.DeepCopyJSON(m)
		foldErr := foldStringData(m)
		switch {
		case (decodeErr != nil) != (foldErr != nil):
			t.Fatalf("foldStringData: %v; the API server's decoding: %v", foldErr, decodeErr)
		case foldErr != nil:
			if !apierrors.IsInvalid(foldErr) || !reflect.DeepEqual(m, before) {
				t.Fatalf("refused with %v, object now %v; want an Invalid status and the object unchanged", foldErr, m)
			}
			return
		}
		stored := maps.Clone(want.Data)
		for k, v := range want.StringData {
			stored[k] = []byte(v)
		}
		got := map[string][]byte{}
		for k, v := range m["data"].(map[string]any) {
			if got[k], err = base64.StdEncoding.DecodeString(v.(string)); err != nil {
				t.Fatalf("data.%s = %q: %v", k, v, err)
			}
		}
		if _, ok := m["stringData"]; ok || !reflect.DeepEqual(got, stored) {
			t.Fatalf("folded into data %q (stringData left: %v), want %q", got, ok, stored)
		}
	})
}
