package webhook

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/api/licensekey"
	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
)

func TestRevokedInstancesListsEachFrozenOrReleasedInstanceOnce(t *testing.T) {
	licence := func(product, instance string, state saasv1alpha1.SubscriptionState) saasv1alpha1.License {
		return saasv1alpha1.License{Spec: saasv1alpha1.LicenseSpec{ProductName: product, InstanceID: instance, State: state}}
	}
	tests := []struct {
		name     string
		licences []saasv1alpha1.License
		gone     []string
		want     []licensekey.Revocation
	}{
		{"none", nil, nil, []licensekey.Revocation{}},
		{"active only", []saasv1alpha1.License{licence("p", "i-1", saasv1alpha1.StateActive)}, nil, []licensekey.Revocation{}},
		{"frozen and released", []saasv1alpha1.License{
			licence("p", "i-1", saasv1alpha1.StateFrozen), licence("p", "i-2", saasv1alpha1.StateReleased),
		}, nil, []licensekey.Revocation{{InstanceID: "i-1", Reason: licensekey.ReasonFrozen}, {InstanceID: "i-2", Reason: licensekey.ReasonReleased}}},
		{"released wins over frozen, in either order", []saasv1alpha1.License{
			licence("p", "i-1", saasv1alpha1.StateReleased), licence("p", "i-1", saasv1alpha1.StateFrozen),
			licence("p", "i-2", saasv1alpha1.StateFrozen), licence("p", "i-2", saasv1alpha1.StateReleased),
		}, nil, []licensekey.Revocation{{InstanceID: "i-1", Reason: licensekey.ReasonReleased}, {InstanceID: "i-2", Reason: licensekey.ReasonReleased}}},
		{"other products are left out", []saasv1alpha1.License{licence("q", "i-9", saasv1alpha1.StateReleased)}, nil, []licensekey.Revocation{}},
		{"a gone instance is released, even with an application still active", []saasv1alpha1.License{licence("p", "i-3", saasv1alpha1.StateActive)},
			[]string{"i-3", "i-4"}, []licensekey.Revocation{{InstanceID: "i-3", Reason: licensekey.ReasonReleased}, {InstanceID: "i-4", Reason: licensekey.ReasonReleased}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(revokedInstances(tt.licences, "p", tt.gone)).To(ConsistOf(tt.want))
		})
	}
}
