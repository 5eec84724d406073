package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	saasv1alpha1 "github.com/kooper-io/kooper/api/v1alpha1"
	"github.com/kooper-io/kooper/internal/directory"
	"github.com/kooper-io/kooper/internal/koogallery"
	"github.com/kooper-io/kooper/internal/redact"
)

// shardSet is a directory's stored shards, Secrets, sorted by name.
type shardSet []corev1.Secret

func (s shardSet) count(part directory.Part) int32 {
	var n int32
	for _, shard := range s {
		if shard.Labels[saasv1alpha1.DirectoryPartLabel] == string(part) {
			c, _ := strconv.Atoi(shard.Annotations[saasv1alpha1.DirectoryCountAnnotation])
			n += int32(c)
		}
	}
	return n
}

// shards reads a directory's shards from the API server; they are kept out
// of the cache (see CacheOptions) because a directory can be megabytes. It
// also returns how many shards of its name it found that are not its own:
// shards of an earlier directory of the same name, written while that one
// was being deleted (see saasv1alpha1.ShardBelongsTo).
func (r *SaaSDirectoryReconciler) shards(ctx context.Context, d *saasv1alpha1.SaaSDirectory) (shardSet, int, error) {
	list := &corev1.SecretList{}
	err := r.Reader.List(ctx, list, client.InNamespace(r.shardNamespace()), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})
	if err != nil {
		return nil, 0, fmt.Errorf("failed to list the shards of SaaSDirectory %s: %w", d.Name, err)
	}
	listed := len(list.Items)
	owned := slices.DeleteFunc(list.Items, func(s corev1.Secret) bool { return !saasv1alpha1.ShardBelongsTo(&s, d) })
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned, listed - len(owned), nil
}

// shardNamespace is where the receiver writes shards.
func (r *SaaSDirectoryReconciler) shardNamespace() string {
	if r.Options.ShardNamespace != "" {
		return r.Options.ShardNamespace
	}
	return r.Options.SecretNamespace
}

// deliveredName names a shard in the tenant namespace: the stored shard's
// name with the directory's name replaced by kooper-directory.
func deliveredName(d *saasv1alpha1.SaaSDirectory, stored string) string {
	return saasv1alpha1.DirectorySecretName + strings.TrimPrefix(stored, d.Name)
}

// deliveryFormat is the shape of what is delivered. It is part of the
// delivery hash, so changing it makes every directory deliver once more:
// "secrets" replaced the ConfigMaps of earlier versions with Secrets.
const deliveryFormat = "secrets"

// deliveryHash covers everything delivery reads, so an unchanged directory
// is recognised before anything is decrypted or written. That includes
// what it writes from the controllers' options, loginURLTemplate (the
// template of kooper-sso's loginUrl, DirectoryOptions.LoginURL): a
// corrected --kit-login-url reaches every directory delivered before it
// at the restart, not at each one's next kit sync. So does whether
// domainName is refused as the base of the OAuth endpoints (oauthEndpoints):
// a directory delivered before kooper refused a cleartext domain gets its
// kooper-sso again, without the endpoints, at the restart.
func deliveryHash(d *saasv1alpha1.SaaSDirectory, namespace, gateway, loginURLTemplate string, shards shardSet) string {
	h := sha256.New()
	spec, _ := json.Marshal(d.Spec) // a typed API struct always encodes
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", deliveryFormat, namespace, spec)
	if _, err := oauthEndpoints(d.Spec.DomainName); err != nil {
		// Only when refused, so directories with a usable domain are not
		// delivered again; named, so it cannot pass for a gateway.
		fmt.Fprintf(h, "domainRefused\x00")
	}
	if gateway != "" {
		// Only when set, so directories of products without a gateway
		// are not delivered again.
		fmt.Fprintf(h, "%s\x00", gateway)
	}
	if loginURLTemplate != "" && loginURLTemplate != DefaultKitLoginURL {
		// Only when not the default, so an upgrade does not deliver every
		// directory again; named, so it cannot pass for a gateway.
		fmt.Fprintf(h, "loginUrl=%s\x00", loginURLTemplate)
	}
	for _, shard := range shards {
		keys := make([]string, 0, len(shard.Data))
		for k := range shard.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00%s\x00%s\x00", shard.Name, k, shard.Data[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// replaceDelivered writes the Secrets into namespace and removes what an
// earlier delivery left that they do not replace: stale Secrets, the
// ConfigMaps earlier versions delivered, and everything in a namespace the
// directory was delivered to before. delivered is what deliveredSecrets
// found in namespace.
func (r *SaaSDirectoryReconciler) replaceDelivered(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string,
	objects []*corev1.Secret, delivered map[string]string) error {
	for _, obj := range objects {
		if err := r.applyChanged(ctx, obj, delivered); err != nil {
			return err
		}
	}
	if err := r.removeStale(ctx, namespace, delivered, objects); err != nil {
		return err
	}
	// The Secrets are there: what earlier versions delivered as ConfigMaps goes.
	if err := r.removeLegacyDelivered(ctx, d, namespace); err != nil {
		return err
	}
	if d.Status.Namespace != "" && d.Status.Namespace != namespace {
		return r.removeAll(ctx, d, d.Status.Namespace)
	}
	return nil
}

// deliver applies the directory's objects in namespace unless what they
// were made from is unchanged since the last delivery there and every one
// of them is still there: one deleted by hand, or missed by a restore of
// the namespace, is put back (only the missing ones are written). When
// kooper-sso cannot be built, the rest is delivered all the same
// (ssoNotDelivered).
func (r *SaaSDirectoryReconciler) deliver(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string, shards shardSet) error {
	hash := deliveryHash(d, namespace, r.productGateway(ctx, d), r.Options.LoginURL, shards)
	delivered, err := r.deliveredSecrets(ctx, d, namespace)
	if err != nil {
		return err
	}
	if d.Status.Namespace == namespace && d.Status.DeliveredHash == hash && deliveredWhole(d, shards, delivered) &&
		!slices.Contains(slices.Collect(maps.Values(delivered)), editedHash) {
		return nil
	}
	objects := append(r.shardObjects(d, namespace, shards), r.indexObject(d, namespace, shards))
	sso, ambiguous, ssoErr := r.ssoSecret(ctx, d, namespace)
	_, hadSSO := delivered[saasv1alpha1.SSOSecretName]
	if ssoErr == nil {
		objects = append(objects, sso)
	} else {
		// Not built: what the tenant has stays, and is not removed as stale.
		delete(delivered, saasv1alpha1.SSOSecretName)
	}
	if err := r.replaceDelivered(ctx, d, namespace, objects, delivered); err != nil {
		return err
	}
	d.Status.Namespace = namespace
	if ssoErr != nil {
		d.Status.DeliveredHash = "" // incomplete: the next reconcile builds kooper-sso again
		return ssoNotDelivered(d, namespace, hadSSO, ssoErr)
	}
	d.Status.DeliveredHash = hash
	_, domainErr := oauthEndpoints(d.Spec.DomainName)
	setDelivered(d, namespace, sso, ambiguous, unmountedEntries(shards), domainErr)
	return nil
}

// unmounted is what a part has in shards a workload does not mount.
type unmounted struct {
	entries, shards int
}

// unmountedEntries counts, for each part, the entries and shards beyond
// those a workload mounts, from the shards' count annotations.
func unmountedEntries(shards shardSet) map[directory.Part]unmounted {
	out := map[directory.Part]unmounted{}
	for _, shard := range shards {
		part := directory.Part(shard.Labels[saasv1alpha1.DirectoryPartLabel])
		for key := range shard.Data {
			if index, ok := directory.ParseDataKey(part, key); ok && index >= directory.MountedShards(part) {
				count, _ := strconv.Atoi(shard.Annotations[saasv1alpha1.DirectoryCountAnnotation])
				out[part] = unmounted{entries: out[part].entries + count, shards: out[part].shards + 1}
				break
			}
		}
	}
	return out
}

// setDelivered sets Delivered for a whole delivery to namespace: True,
// saying when kooper-sso's application (sso) was chosen among several
// (ambiguous, as chosenApplication says); False when some entries are in
// shards the tenant's pods do not mount (beyond, unmountedEntries), since
// those users cannot sign in, and False when kooper-sso has no endpoints
// because domainName was refused (domainErr, from oauthEndpoints), since
// nobody can.
func setDelivered(d *saasv1alpha1.SaaSDirectory, namespace string, sso *corev1.Secret, ambiguous bool, beyond map[directory.Part]unmounted,
	domainErr error) {
	status, reason := metav1.ConditionTrue, saasv1alpha1.SucceededReason
	msg := fmt.Sprintf("delivered to namespace %s: %d users, %d departments", namespace, d.Status.Users, d.Status.Departments)
	var notMounted []string
	for _, part := range []directory.Part{directory.Users, directory.Departments} {
		if b := beyond[part]; b.shards > 0 {
			notMounted = append(notMounted, fmt.Sprintf("%d %s (in %d shards past the %d mounted)",
				b.entries, part, b.shards, directory.MountedShards(part)))
		}
	}
	if len(notMounted) > 0 {
		status, reason = metav1.ConditionFalse, saasv1alpha1.ShardsNotMountedReason
		msg += fmt.Sprintf("; but the tenant's pods cannot read %s: the SSO gateway refuses those users and the app does not see them "+
			"(tenant.json lists every shard). The next sync moves them into the mounted shards if they fit there; "+
			"if not, the enterprise has more than the pods can hold", strings.Join(notMounted, " and "))
	}
	if ambiguous {
		if status == metav1.ConditionTrue {
			reason = saasv1alpha1.SeveralApplicationsReason
		}
		msg += fmt.Sprintf("; the enterprise has %d applications and the product's SSO gateway names none (spec.workload.sso.gateway.appId): "+
			"it signs in with %s, the one delivered first or else the most recently synced", len(d.Spec.Applications), string(sso.Data["appId"]))
	}
	if domainErr != nil {
		// First: nobody signs in, which matters more than the rest.
		status, reason = metav1.ConditionFalse, saasv1alpha1.DomainNameUnusableReason
		msg += fmt.Sprintf("; but kooper-sso has no OAuth endpoints, so nobody signs in: %v; "+
			"the enterprise's tenantSync must send an https domain with no path, query or fragment", domainErr)
	}
	setCondition(d, saasv1alpha1.DeliveredCondition, status, reason, msg)
}

// ssoNotDelivered records why kooper-sso was not delivered with the users,
// departments and tenant.json, which were: the users shards are what the
// SSO gateway admits by, so a user the kit removes is refused all the
// same. A clientSecret the product's key cannot open is
// ClientSecretUndecryptable, which only a new rsaPrivateKey or
// applicationSync clears (each brings a reconcile: see SetupWithManager);
// anything else (the product or its keys Secret not read now) is returned,
// to be logged and retried with backoff. hadSSO says whether the tenant
// has a kooper-sso of an earlier delivery, which stays as it is.
func ssoNotDelivered(d *saasv1alpha1.SaaSDirectory, namespace string, hadSSO bool, err error) error {
	if !errors.As(err, new(undecryptableError)) {
		return fmt.Errorf("users and departments delivered to namespace %s, but not kooper-sso: %w", namespace, err)
	}
	kept := "kooper-sso stays as last delivered"
	if !hadSSO {
		kept = "there is no kooper-sso, so nobody signs in"
	}
	setCondition(d, saasv1alpha1.DeliveredCondition, metav1.ConditionFalse, saasv1alpha1.ClientSecretUndecryptableReason,
		fmt.Sprintf("users and departments delivered to namespace %s (%d users, %d departments), but %s: %v; "+
			"put back the rsaPrivateKey the marketplace encrypts for, or have it send applicationSync again",
			namespace, d.Status.Users, d.Status.Departments, kept, err))
	return nil
}

// undecryptableError is why a clientSecret cannot be decrypted: the
// product's rsaPrivateKey is missing or unusable, or does not open it.
// Unlike a read that failed, retrying does not help.
type undecryptableError struct{ err error }

func (e undecryptableError) Error() string { return e.err.Error() }
func (e undecryptableError) Unwrap() error { return e.err }

// deliveredWhole reports whether delivered (deliveredSecrets) names every
// Secret a delivery of d with shards consists of: kooper-sso, the index
// and each shard. Only names are compared; nothing is built or decrypted.
func deliveredWhole(d *saasv1alpha1.SaaSDirectory, shards shardSet, delivered map[string]string) bool {
	if _, ok := delivered[saasv1alpha1.SSOSecretName]; !ok {
		return false
	}
	if _, ok := delivered[saasv1alpha1.DirectorySecretName]; !ok {
		return false
	}
	for _, shard := range shards {
		if _, ok := delivered[deliveredName(d, shard.Name)]; !ok {
			return false
		}
	}
	return true
}

// productGateway is gatewayApplication of d's product, "" when it
// cannot be read (ssoSecret then says why).
func (r *SaaSDirectoryReconciler) productGateway(ctx context.Context, d *saasv1alpha1.SaaSDirectory) string {
	product := &saasv1alpha1.SaaSProduct{}
	if err := r.Get(ctx, client.ObjectKey{Name: d.Spec.ProductName}, product); err != nil {
		return ""
	}
	return gatewayApplication(product)
}

// chosenApplication is the application kooper-sso carries, of apps (at
// least one): the one the product's SSO gateway names
// (spec.workload.sso.gateway.appId) when the enterprise has it; else the
// one delivered already (current), while the enterprise still has it, so
// that a second application's sync does not move a working tenant's
// sign-in to an application its users are not authorised for (issue 32's
// trial); else the most recently synced. ambiguous says the gateway names
// none while the enterprise has several.
func chosenApplication(product *saasv1alpha1.SaaSProduct, apps []saasv1alpha1.DirectoryApplication, current string) (app saasv1alpha1.DirectoryApplication, ambiguous bool) {
	find := func(appID string) (saasv1alpha1.DirectoryApplication, bool) {
		for _, a := range apps {
			if appID != "" && a.AppID == appID {
				return a, true
			}
		}
		return saasv1alpha1.DirectoryApplication{}, false
	}
	gw := product.Spec.Workload.Gateway()
	if gw == nil {
		return apps[len(apps)-1], false
	}
	if a, ok := find(gw.AppID); ok {
		return a, false
	}
	ambiguous = gw.AppID == "" && len(apps) > 1
	if a, ok := find(current); ok {
		return a, ambiguous
	}
	return apps[len(apps)-1], ambiguous
}

// deliveredApplication is the appId of the kooper-sso Secret delivered in
// namespace, "" when there is none or it cannot be read. Delivered objects
// are not cached: read from the API server, once per delivery (a kit sync).
func (r *SaaSDirectoryReconciler) deliveredApplication(ctx context.Context, namespace string) string {
	delivered := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: saasv1alpha1.SSOSecretName}, delivered); err != nil {
		return ""
	}
	return string(delivered.Data["appId"])
}

// deliveredMeta is the metadata of everything delivered for d.
func deliveredMeta(d *saasv1alpha1.SaaSDirectory, namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
		saasv1alpha1.ManagedByLabel: saasv1alpha1.ManagedByValue,
		saasv1alpha1.DirectoryLabel: d.Name,
	}}
}

// shardObjects are the shards as delivered: Opaque Secrets, since users
// carry personal data (see directoryVolumes in internal/tenantobjects).
func (r *SaaSDirectoryReconciler) shardObjects(d *saasv1alpha1.SaaSDirectory, namespace string, shards shardSet) []*corev1.Secret {
	out := make([]*corev1.Secret, 0, len(shards))
	for _, stored := range shards {
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: deliveredMeta(d, namespace, deliveredName(d, stored.Name)), Type: corev1.SecretTypeOpaque, Data: stored.Data}
		s.Labels[saasv1alpha1.DirectoryPartLabel] = stored.Labels[saasv1alpha1.DirectoryPartLabel]
		s.Annotations = map[string]string{saasv1alpha1.DirectoryCountAnnotation: stored.Annotations[saasv1alpha1.DirectoryCountAnnotation]}
		out = append(out, s)
	}
	return out
}

// directoryIndex is tenant.json: the enterprise, the counts and the shards.
type directoryIndex struct {
	InstanceID       string   `json:"instanceId"`
	TenantID         string   `json:"tenantId"`
	TenantCode       string   `json:"tenantCode"`
	Name             string   `json:"name"`
	DomainName       string   `json:"domainName"`
	OrderID          string   `json:"orderId"`
	Mode             string   `json:"mode"`
	Users            int32    `json:"users"`
	Departments      int32    `json:"departments"`
	UserShards       []string `json:"userShards"`
	DepartmentShards []string `json:"departmentShards"`
}

func (r *SaaSDirectoryReconciler) indexObject(d *saasv1alpha1.SaaSDirectory, namespace string, shards shardSet) *corev1.Secret {
	idx := directoryIndex{InstanceID: d.Spec.InstanceID, TenantID: d.Spec.TenantID, TenantCode: d.Spec.TenantCode,
		Name: d.Spec.Name, DomainName: d.Spec.DomainName, OrderID: d.Spec.OrderID, Mode: string(d.Spec.Mode),
		Users: d.Status.Users, Departments: d.Status.Departments, UserShards: []string{}, DepartmentShards: []string{}}
	for _, shard := range shards {
		name := deliveredName(d, shard.Name)
		if shard.Labels[saasv1alpha1.DirectoryPartLabel] == string(directory.Users) {
			idx.UserShards = append(idx.UserShards, name)
		} else {
			idx.DepartmentShards = append(idx.DepartmentShards, name)
		}
	}
	data, _ := json.MarshalIndent(idx, "", "  ") // a struct of strings and numbers always encodes
	return &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: deliveredMeta(d, namespace, saasv1alpha1.DirectorySecretName), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"tenant.json": data}}
}

// ssoSecret is kooper-sso: the OAuth client of the directory's chosen
// application (chosenApplication), with the clientSecret decrypted, and
// the endpoints of spec §7 derived from the enterprise's domain. ambiguous
// is chosenApplication's.
func (r *SaaSDirectoryReconciler) ssoSecret(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string) (_ *corev1.Secret, ambiguous bool, _ error) {
	data := map[string]string{
		"instanceId": d.Spec.InstanceID, "tenantId": d.Spec.TenantID, "tenantCode": d.Spec.TenantCode,
		"tenantName": d.Spec.Name, "domainName": d.Spec.DomainName,
	}
	// A refused domain leaves kooper-sso without endpoints, so the gateway
	// signs nobody in rather than send the client secret and the codes
	// where they could be read; deliver reports why (setDelivered).
	endpoints, _ := oauthEndpoints(d.Spec.DomainName)
	for k, v := range endpoints {
		data[k] = v
	}
	if len(d.Spec.Applications) > 0 {
		product := &saasv1alpha1.SaaSProduct{}
		if err := r.Get(ctx, client.ObjectKey{Name: d.Spec.ProductName}, product); err != nil {
			return nil, false, fmt.Errorf("the SaaSProduct %s cannot be read: %w", d.Spec.ProductName, err)
		}
		current := ""
		if gw := product.Spec.Workload.Gateway(); gw != nil && gw.AppID == "" && len(d.Spec.Applications) > 1 {
			current = r.deliveredApplication(ctx, namespace) // the choice is open: keep what the tenant signs in with
		}
		app, several := chosenApplication(product, d.Spec.Applications, current)
		ambiguous = several
		secret, err := r.clientSecret(ctx, product, app)
		if err != nil {
			return nil, false, err
		}
		data["appId"], data["clientId"], data["clientSecret"] = app.AppID, app.ClientID, secret
		data["loginUrl"] = r.Options.loginURL(app.AppID)
	}
	s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: deliveredMeta(d, namespace, saasv1alpha1.SSOSecretName), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s, ambiguous, nil
}

// oauthEndpoints derives the SSO endpoints from domainName (spec §7.2–7.6):
// none without a domain, and none, with an error saying why, for a domain
// that is not an origin to send the client secret, the codes and the
// tokens to (oauthOrigin).
func oauthEndpoints(domain string) (map[string]string, error) {
	if domain == "" {
		return nil, nil
	}
	base, err := oauthOrigin(domain)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"authorizeUrl": base + "/api/v1/oauth2/authorize",
		"tokenUrl":     base + "/api/v1/oauth2/token",
		"userinfoUrl":  base + "/api/v1/oauth2/userinfo",
		"logoutUrl":    base + "/api/v1/logout",
	}, nil
}

// oauthOrigin is domain, to which https:// is added when it has no scheme,
// as the origin the endpoints' paths are appended to. It must be https
// (the token request carries the client secret and the code, its answer
// the tokens), or http to a loopback address (the marketplace simulator,
// hack/marketplace-sim, on http://127.0.0.1:9099), and hold nothing but a
// scheme, a host and a port: a path would move the endpoints, and a "?" or
// "#" would turn their paths into a query or a fragment. The domain is
// named in the error: it is the enterprise's, not a person's.
func oauthOrigin(domain string) (string, error) {
	base := domain
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	refused := func(why string) (string, error) {
		return "", fmt.Errorf("the domainName %q cannot be the base of the OAuth endpoints: %s", domain, why)
	}
	u, err := url.Parse(base)
	switch {
	case err != nil || u.Opaque != "" || u.Hostname() == "":
		return refused("it is not a URL with a host")
	case u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(base, "#"):
		return refused("it holds more than a scheme, a host and a port (a path, a query, a fragment or a user)")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return refused("its scheme is not https (http is for a loopback address only)")
	}
	return u.Scheme + "://" + u.Host, nil
}

// isLoopback says whether host is a loopback IP address. A name such as
// localhost is not taken for one: what it resolves to is not kooper's to
// know.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clientSecret decrypts an application's clientSecret with the product's
// RSA key and the OAEP variant that worked when it arrived.
func (r *SaaSDirectoryReconciler) clientSecret(ctx context.Context, product *saasv1alpha1.SaaSProduct, app saasv1alpha1.DirectoryApplication) (string, error) {
	keys := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: r.Options.SecretNamespace, Name: product.Spec.KeysSecretName}, keys); err != nil {
		return "", fmt.Errorf("the keys Secret of SaaSProduct %s cannot be read: %w", product.Name, err)
	}
	key, err := koogallery.ParseRSAPrivateKey(keys.Data[saasv1alpha1.RSAPrivateKeySecretKey])
	if err != nil {
		return "", undecryptableError{fmt.Errorf("the rsaPrivateKey of SaaSProduct %s cannot be used: %w", product.Name, err)}
	}
	plain, _, err := koogallery.DecryptClientSecret(key, app.EncryptedClientSecret, []koogallery.OAEPHash{koogallery.OAEPHash(app.OAEPHash)})
	if err != nil {
		return "", undecryptableError{fmt.Errorf("the clientSecret of application %s: %w", app.AppID, err)}
	}
	return plain, nil
}

// apply writes obj with server-side apply. Delivered objects are not cached
// (they live in tenant namespaces), so the hash check in deliver is what
// keeps unchanged directories from being written.
func (r *SaaSDirectoryReconciler) apply(ctx context.Context, obj client.Object) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(r.Options.FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("failed to apply %s %s: %w", u.GetKind(), client.ObjectKeyFromObject(obj), redact.APIError(err)) // logged and in DeliveryFailed: no quoted user
	}
	return nil
}

// contentHashAnnotation on a delivered Secret is a hash of its content, so
// that a Secret whose content did not change is not sent again: a batch of
// 500 users changes one or two shards of a directory that may have dozens.
const contentHashAnnotation = "saas.kooper.io/content-hash"

// deliveredSecrets returns the content hash of each Secret delivered for d
// in namespace, by name. Only metadata is read: the data can be megabytes.
func (r *SaaSDirectoryReconciler) deliveredSecrets(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string) (map[string]string, error) {
	list, err := r.listMetadata(ctx, "SecretList", namespace, d)
	if err != nil {
		return nil, fmt.Errorf("failed to list the delivered Secrets in %s: %w", namespace, err)
	}
	out := make(map[string]string, len(list.Items))
	for _, item := range list.Items {
		out[item.Name] = item.Annotations[contentHashAnnotation]
		cached := &corev1.Secret{}
		if r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: item.Name}, cached) == nil && editedSinceDelivered(cached) {
			out[item.Name] = editedHash
		}
	}
	return out, nil
}

// editedHash stands, in deliveredSecrets' answer, for the hash of a
// delivered Secret changed by someone else since: it matches no content,
// so the Secret is delivered again.
const editedHash = "edited"

// editedSinceDelivered reports whether a delivered Secret no longer carries
// what kooper delivered: kooper writes the hash of the content beside it
// (contentHashAnnotation), so a change by hand shows as a mismatch. Only the
// labels and annotation kooper sets count: others' additions are theirs.
// Only Secrets the cache holds (kooper-sso, tenant.json) are checked: the
// shards, megabytes for a large enterprise, are left out of the cache.
func editedSinceDelivered(live *corev1.Secret) bool {
	recorded, ok := live.Annotations[contentHashAnnotation]
	if !ok {
		return false // delivered before kooper recorded hashes
	}
	delivered := &corev1.Secret{Data: live.Data, ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}}
	for _, key := range []string{saasv1alpha1.ManagedByLabel, saasv1alpha1.DirectoryLabel, saasv1alpha1.DirectoryPartLabel} {
		if value, ok := live.Labels[key]; ok {
			delivered.Labels[key] = value
		}
	}
	if count, ok := live.Annotations[saasv1alpha1.DirectoryCountAnnotation]; ok {
		delivered.Annotations = map[string]string{saasv1alpha1.DirectoryCountAnnotation: count}
	}
	return contentHash(delivered) != recorded
}

// listMetadata lists the metadata of the objects of a core kind (its list
// kind, e.g. "SecretList") labelled with d in namespace, from the API server.
func (r *SaaSDirectoryReconciler) listMetadata(ctx context.Context, listKind, namespace string, d *saasv1alpha1.SaaSDirectory) (*metav1.PartialObjectMetadataList, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(listKind))
	err := r.Reader.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{saasv1alpha1.DirectoryLabel: d.Name})
	return list, err
}

// applyChanged applies obj unless it was already delivered with the same
// content.
func (r *SaaSDirectoryReconciler) applyChanged(ctx context.Context, obj *corev1.Secret, delivered map[string]string) error {
	hash := contentHash(obj)
	metav1.SetMetaDataAnnotation(&obj.ObjectMeta, contentHashAnnotation, hash)
	if delivered[obj.Name] == hash {
		return nil
	}
	return r.apply(ctx, obj)
}

// contentHash hashes what a delivered Secret carries.
func contentHash(s *corev1.Secret) string {
	h := sha256.New()
	content := []any{s.Data, s.Labels, s.Annotations[saasv1alpha1.DirectoryCountAnnotation]}
	data, _ := json.Marshal(content) // maps of strings and bytes always encode
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// removeStale deletes delivered Secrets of d in namespace that are no
// longer among keep (the tree shrank).
func (r *SaaSDirectoryReconciler) removeStale(ctx context.Context, namespace string, delivered map[string]string, keep []*corev1.Secret) error {
	names := map[string]bool{}
	for _, obj := range keep {
		names[obj.Name] = true
	}
	for name := range delivered {
		if names[name] {
			continue
		}
		if err := r.deleteDelivered(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}); err != nil {
			return err
		}
	}
	return nil
}

// removeLegacyDelivered deletes what earlier versions delivered for d in
// namespace as ConfigMaps (kooper-directory and its shards). Only metadata
// is listed.
func (r *SaaSDirectoryReconciler) removeLegacyDelivered(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string) error {
	list, err := r.listMetadata(ctx, "ConfigMapList", namespace, d)
	if err != nil {
		return fmt.Errorf("failed to list the ConfigMaps delivered in %s by earlier versions: %w", namespace, err)
	}
	for _, item := range list.Items {
		if err := r.deleteDelivered(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: item.Name}}); err != nil {
			return err
		}
	}
	return nil
}

// removeAll deletes everything delivered for d in namespace, by this
// version (Secrets, kooper-sso among them) or an earlier one (ConfigMaps).
func (r *SaaSDirectoryReconciler) removeAll(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string) error {
	delivered, err := r.deliveredSecrets(ctx, d, namespace)
	if err != nil {
		return err
	}
	if err := r.removeStale(ctx, namespace, delivered, nil); err != nil {
		return err
	}
	if err := r.removeUnlabelled(ctx, d, namespace); err != nil {
		return err
	}
	return r.removeLegacyDelivered(ctx, d, namespace)
}

// removeUnlabelled deletes kooper-sso and kooper-directory in namespace by
// their fixed names: one whose directory label was taken off is not
// listed by it, and kooper-sso holds the OAuth clientSecret. One labelled
// with another directory (of another enterprise of the instance) is that
// directory's and stays. Only metadata is read, from the API server.
func (r *SaaSDirectoryReconciler) removeUnlabelled(ctx context.Context, d *saasv1alpha1.SaaSDirectory, namespace string) error {
	for _, name := range []string{saasv1alpha1.SSOSecretName, saasv1alpha1.DirectorySecretName} {
		s := &metav1.PartialObjectMetadata{}
		s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("failed to read Secret %s/%s: %w", namespace, name, err)
		}
		if owner, ok := s.Labels[saasv1alpha1.DirectoryLabel]; ok && owner != d.Name {
			continue
		}
		// Only the Secret read: one written since (Conflict) is another's.
		uid := s.UID
		err = r.Delete(ctx, s, client.Preconditions{UID: &uid})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("failed to delete %s/%s: %w", namespace, name, err)
		}
	}
	return nil
}

func (r *SaaSDirectoryReconciler) deleteDelivered(ctx context.Context, obj client.Object) error {
	if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// withdraw removes a delivery that must no longer be there (the enterprise
// was deleted, or the instance released).
func (r *SaaSDirectoryReconciler) withdraw(ctx context.Context, d *saasv1alpha1.SaaSDirectory) error {
	if d.Status.Namespace == "" {
		return nil
	}
	if err := r.removeAll(ctx, d, d.Status.Namespace); err != nil {
		return err
	}
	d.Status.Namespace, d.Status.DeliveredHash = "", ""
	return nil
}
