// Package licensekey issues and verifies kooper licence keys: compact tokens
// signed with Ed25519 that a merchant's software checks offline, with only
// the public key, the current time, its device fingerprint and (optionally)
// the signed revocation list kooper publishes.
//
// The package uses the standard library only, so merchants can import it
// without pulling in Kubernetes. It lives under api/ rather than internal/
// because Go forbids importing internal packages from other modules, and
// api/ is the part of kooper's fixed layout that outside code is meant to
// import. The token format is documented byte for byte in
// docs/licence-keys.md, for verifiers written in other languages.
package licensekey
