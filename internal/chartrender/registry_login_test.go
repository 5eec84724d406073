package chartrender

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/static"
	. "github.com/onsi/gomega"

	"github.com/kooper-io/kooper/internal/chartrender/ocitest"
)

// dockerConfigOf is a .dockerconfigjson logging in to each key as the user
// it maps to, the password being the user's name with "-password".
func dockerConfigOf(t *testing.T, users map[string]string) []byte {
	t.Helper()
	auths := map[string]authn.AuthConfig{}
	for key, user := range users {
		auths[key] = authn.AuthConfig{Username: user, Password: user + "-password"}
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A pull Secret may hold several entries for one registry (a host and the
// URL docker login wrote, Docker Hub under two names, logins scoped to
// repository paths). The login used must be the same on every pull, or
// ChartReady flaps, a failed pull is memoised for every tenant of the
// product, and failed logins may lock the registry account.
func TestTheRegistryLoginChosenIsTheSameEveryTime(t *testing.T) {
	tests := []struct {
		name     string
		repo     string
		users    map[string]string
		wantUser string // "" is anonymous
	}{
		{
			name: "the host as the key before the URL form",
			repo: "swr.cn-north-4.myhuaweicloud.com/merchant/crm",
			users: map[string]string{
				"swr.cn-north-4.myhuaweicloud.com":         "host-key",
				"https://swr.cn-north-4.myhuaweicloud.com": "url-key",
			},
			wantUser: "host-key",
		},
		{
			name: "Docker Hub: the key docker login writes before an alias",
			repo: "docker.io/bitnami/redis",
			users: map[string]string{
				"docker.io":                   "alias",
				"https://index.docker.io/v1/": "docker-login",
			},
			wantUser: "docker-login",
		},
		{
			name: "the longest repository path matching",
			repo: "reg.io/team-a/crm",
			users: map[string]string{
				"reg.io":                   "registry",
				"https://reg.io/v2/team-a": "team-a",
				"reg.io/team-a/crm":        "team-a-crm",
				"reg.io/team-b":            "team-b",
				"reg.io/team-a/crm-old":    "another-repository",
			},
			wantUser: "team-a-crm",
		},
		{
			name: "a path prefix of the repository, whole segments only",
			repo: "reg.io/team-a/crm",
			users: map[string]string{
				"reg.io/team":   "team",
				"reg.io/team-a": "team-a",
				"reg.io/team-b": "team-b",
			},
			wantUser: "team-a",
		},
		{
			name:  "only other repositories' logins: anonymous",
			repo:  "reg.io/team-a/crm",
			users: map[string]string{"reg.io/team-b": "team-b", "reg.io/team": "team"},
		},
		{
			name: "two URL forms: key order",
			repo: "reg.io/crm",
			users: map[string]string{
				"https://reg.io":    "https",
				"http://reg.io/v1/": "http",
			},
			wantUser: "http",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			repo, err := name.NewRepository(tt.repo)
			g.Expect(err).NotTo(HaveOccurred())
			config := dockerConfigOf(t, tt.users)
			for range 50 {
				auth, err := authFromDockerConfig(config, repo)
				g.Expect(err).NotTo(HaveOccurred())
				if tt.wantUser == "" {
					g.Expect(auth).To(BeIdenticalTo(authn.Anonymous))
					continue
				}
				ac, err := auth.Authorization()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(ac.Username).To(Equal(tt.wantUser))
			}
		})
	}

	t.Run("pulls from a registry", func(t *testing.T) {
		tgz := packageChart(t, testChartDir, nil)
		guard := &ocitest.RequireAuth{Want: ocitest.BasicAuthorization("valid", "valid-password")}
		host := ocitest.NewRegistry(t, guard.Wrap)
		repo, err := name.NewRepository(host + "/charts/crm")
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		ocitest.PushArtifact(t, repo, "1.2.0", &authn.Basic{Username: "valid", Password: "valid-password"}, static.NewLayer(tgz, ChartLayerMediaType))

		for _, users := range []map[string]string{
			{host: "valid", "https://" + host: "expired"},
			{host + "/charts/crm": "valid", host + "/charts": "expired", host: "expired", "https://" + host + "/v1/": "expired"},
		} {
			config := dockerConfigOf(t, users)
			for range 20 {
				_, err := FetchOCI(context.Background(), host+"/charts/crm:1.2.0", config)
				NewWithT(t).Expect(err).NotTo(HaveOccurred(), "logins %v", users)
			}
		}
	})
}
