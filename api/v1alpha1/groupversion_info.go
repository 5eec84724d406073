// Package v1alpha1 holds the kooper API: SaaSProduct (what a merchant sells on
// KooGallery), SaaSTenant (one marketplace instance of a SaaS product) and
// License (one marketplace instance of a licence product).
//
// This package holds types only: no client calls and no logic, because
// clients import it.
//
// +kubebuilder:object:generate=true
// +groupName=saas.kooper.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "saas.kooper.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion} //nolint:staticcheck // SA1019: kubebuilder's scaffold; each types file calls SchemeBuilder.Register(objects...), which apimachinery's runtime.SchemeBuilder lacks

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
