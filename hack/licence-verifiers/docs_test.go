package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The verifiers docs/licence-keys.md shows are these files, byte for byte.
func TestTheDocumentQuotesTheseVerifiers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "licence-keys.md"))
	if err != nil {
		t.Fatal(err)
	}
	for file, lang := range map[string]string{"Verify.java": "java", "verify.py": "python", "main.go": "go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, []byte("```"+lang+"\n"+string(src)+"```\n")) {
			t.Errorf("docs/licence-keys.md does not quote hack/licence-verifiers/%s as it is: copy the file into its ```%s block", file, lang)
		}
	}
}
