// Package ssogateway is kooper's login gateway for joint-operation tenants
// (docs/sso-gateway.md): an HTTP reverse proxy, run beside the app in each
// tenant pod by `kooper gateway`, that signs the enterprise's users in with
// their joint-operation account (OAuth 2.0 authorisation code against the
// tenant's domainName, spec §7), admits only the users the kit's directory
// says are authorised for the product's application (authSync, spec
// §3.11.3), and forwards their requests to the app with X-Forwarded-User,
// X-Forwarded-Email and X-Forwarded-Tenant set by the gateway alone.
//
// It keeps no state: the session is an encrypted, signed cookie
// (gorilla/securecookie) whose keys are derived from the OAuth client
// secret, so every replica serves every request and a new client secret
// ends every session. The client secret, the cookie keys and the tokens in
// clear never reach the browser.
package ssogateway
