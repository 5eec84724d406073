// Package doclinks checks the repository's own documentation: every relative
// link in README.md, CHANGELOG.md and docs/**/*.md names a file or folder
// that exists and, with a #fragment, a heading of that file.
package doclinks

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, two levels above this package.
const root = "../.."

var (
	fence    = regexp.MustCompile("(?m)^ {0,3}(```|~~~)")
	codeSpan = regexp.MustCompile("`[^`\n]*`")
	// link is an inline link or image: [text](target) or [text](target "title").
	link    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

// docs lists the Markdown files the test checks, relative to root.
func docs(t *testing.T) []string {
	files := []string{"README.md", "CHANGELOG.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// prose is the file's text outside fenced code blocks, one entry per line.
func prose(text string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if !inFence {
			out = append(out, line)
		}
	}
	return out
}

// slug is the anchor GitHub gives a heading: lower case, punctuation dropped
// (letters of any script, digits, '-' and '_' stay), spaces made hyphens.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the heading anchors of a Markdown file, a repeated heading
// getting -1, -2... as on GitHub.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, line := range prose(text) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

func TestRelativeLinksResolve(t *testing.T) {
	for _, file := range docs(t) {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		text := codeSpan.ReplaceAllString(strings.Join(prose(string(b)), "\n"), "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, fragment, _ := strings.Cut(target, "#")
			resolved := filepath.Join(root, file)
			if path != "" {
				resolved = filepath.Join(root, filepath.Dir(file), filepath.FromSlash(path))
			}
			info, err := os.Stat(resolved)
			if err != nil {
				t.Errorf("%s: link %q: no such file", file, target)
				continue
			}
			if fragment == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s: link %q: a fragment needs a Markdown file", file, target)
				continue
			}
			body, err := os.ReadFile(resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(body))[fragment] {
				in := filepath.ToSlash(path)
				if in == "" {
					in = file
				}
				t.Errorf("%s: link %q: %s has no heading with that anchor", file, target, in)
			}
		}
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Set-up: two commands":                                      "set-up-two-commands",
		"Joint-operation products (联营 kit)":                         "joint-operation-products-联营-kit",
		"A tenant's life":                                           "a-tenants-life",
		"saas.kooper.io/v1alpha1":                                   "saaskooperiov1alpha1",
		"Personal data: where it lives, who reads it, when it goes": "personal-data-where-it-lives-who-reads-it-when-it-goes",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
