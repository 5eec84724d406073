package v1alpha1

// The fingerprint of the credentials key (Secret kooper-credentials-key in
// kooper's namespace), and the Events that say the key there is not the one
// tenants' passwords were derived from.
const (
	// CredentialsKeyIDAnnotation on the credentials key's Secret holds the
	// fingerprint of the key it holds (the credentialsKeyID a tenant's
	// status names, 16 hex characters, which reveal nothing of the key).
	// The controllers write it whenever the Secret's key changes, and
	// CredentialsKeyIDNone while the Secret holds no key, so that what reads only metadata
	// (kubectl kooper describe) can tell whether the key there is a
	// tenant's. Edited by hand, it is put back.
	CredentialsKeyIDAnnotation = "saas.kooper.io/credentials-key-id"

	// CredentialsKeyIDNone is CredentialsKeyIDAnnotation's value while the
	// Secret holds no usable key (never a fingerprint, which is hex).
	CredentialsKeyIDNone = "none"

	// CredentialsKeyMismatchReason: the credentials key's Secret holds a key
	// other than the one some tenants' passwords were derived from (it was
	// replaced, or restored from another installation's backup); the
	// receiver answers queryInstance 000005 for those tenants until the
	// Secret with their key is restored.
	CredentialsKeyMismatchReason = "CredentialsKeyMismatch"
	// CredentialsKeyInvalidReason: the credentials key's Secret holds no
	// key (its "key" is missing or too short): no password can be derived
	// until it is restored.
	CredentialsKeyInvalidReason = "CredentialsKeyInvalid"
)
