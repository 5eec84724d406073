// Package chartrender renders a merchant's Helm chart into the objects of one
// tenant, in process, with the Helm SDK (helm.sh/helm/v3): no `helm install`,
// no release Secret, no client of the API server.
//
// Its job, in three steps:
//
//  1. Get the chart's .tgz: FetchOCI pulls a chart stored as an OCI artifact
//     (github.com/google/go-containerregistry), ArchiveFromBytes takes one
//     packaged in a Secret. Either gives an Archive: the bytes and a digest.
//  2. Render it for one tenant: Renderer.Render loads the chart once per
//     digest, renders its templates with the tenant's values and release
//     options, and splits and decodes the manifests into objects.
//  3. Refuse what a tenant may not hold: only the kinds of AllowedKinds, and
//     only in the tenant's namespace; anything else fails the whole render
//     with a *RefusedError that names every refused object.
//
// Its rules:
//
//   - It never talks to the API server: the templates' `lookup` finds
//     nothing and DNS lookups are off. The caller applies what it returns.
//   - The same archive, values and options give the same objects in the same
//     order, and a Renderer serves a repeated render from its cache while
//     the cache holds it.
//   - It never reads a file outside the chart: Helm's values.schema.json
//     validation is not run, because a schema's $ref can fetch a URL or read
//     a local file.
//   - Its sizes are bounded: an archive is at most MaxArchiveBytes
//     compressed and MaxUnpackedBytes unpacked, and both caches are bounded
//     by the bytes they hold (ChartCacheBytes, ResultCacheBytes), not by
//     their number of entries, whose size the chart sets.
package chartrender
