package v1alpha1

// What a provisioned tenant's namespace deleted outside kooper shows.
const (
	// NamespaceTerminatingReason: the namespace of a tenant that is not
	// released is being deleted, by someone other than kooper (kooper
	// deletes a namespace only after a release). Nothing can be made in it
	// meanwhile; once it is gone, kooper makes it again
	// (NamespaceRecreatedReason).
	NamespaceTerminatingReason = "NamespaceTerminating"
	// NamespaceRecreatedReason, a Warning Event on the tenant: the
	// namespace of a provisioned tenant was deleted outside kooper and
	// kooper made it again, empty: the workload's data and anything else it
	// held are gone (kooper restores the credentials from its copy).
	NamespaceRecreatedReason = "NamespaceRecreated"
)
