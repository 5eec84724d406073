package testenv

import "testing"

// A CI run counted tenant i-251c51752ee4a9165d5a's requests as tenant
// i-251's: a name must match a whole path segment.
func TestNamesObjectMatchesWholeSegments(t *testing.T) {
	for _, tc := range []struct {
		path, resource, name string
		want                 bool
	}{
		{"/apis/saas.kooper.io/v1alpha1/saastenants/i-251", "saastenants", "i-251", true},
		{"/apis/saas.kooper.io/v1alpha1/saastenants/i-251/status", "saastenants", "i-251", true},
		{"/apis/saas.kooper.io/v1alpha1/saastenants/i-251c51752ee4a9165d5a", "saastenants", "i-251", false},
		{"/apis/saas.kooper.io/v1alpha1/saastenants/i-251c51752ee4a9165d5a/status", "saastenants", "i-251", false},
		{"/api/v1/namespaces/tenant-i-251", "namespaces", "tenant-i-251", true},
		{"/api/v1/namespaces/tenant-i-251/secrets/kooper-credentials", "namespaces", "tenant-i-251", true},
		{"/api/v1/namespaces/tenant-i-2510/secrets", "namespaces", "tenant-i-251", false},
		{"/apis/saas.kooper.io/v1alpha1/licenses/i-251", "saastenants", "i-251", false},
	} {
		if got := NamesObject(tc.path, tc.resource, tc.name); got != tc.want {
			t.Errorf("NamesObject(%q, %q, %q) = %v, want %v", tc.path, tc.resource, tc.name, got, tc.want)
		}
	}
}
