package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// buildCommand builds this package's command as dir/lenetkit, the binary
// the tests run as a user would.
//
// go build links a fresh output file every time, about 2 CPU seconds and
// several times that in wall time on a loaded 2-core machine, while an
// output that is up to date (the build ID it carries matches the sources
// and flags) is left as it is. So the command is built into a folder of the
// user's cache kept between test runs, one per checkout, under a lock
// that serialises test binaries building it at once; the run then links
// or copies it into dir. go build replaces an outdated binary by removing
// it and writing a new file, so a run's own link keeps the binary it
// started with while a later run builds another.
func buildCommand(dir string) error {
	bin := filepath.Join(dir, "lenetkit")
	cache, err := commandCache()
	if err != nil {
		return goBuild(bin) // no cache folder: build as before, into dir
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return goBuild(bin)
	}
	defer lock.Close() // closing the file releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	cached := filepath.Join(cache, "lenetkit")
	if err := goBuild(cached); err != nil {
		return err
	}
	if os.Link(cached, bin) == nil {
		return nil
	}
	return copyFile(cached, bin) // another file system
}

// commandCache is the folder that keeps the command built between test
// runs: one per package directory, so that checkouts side by side do not
// build over each other.
func commandCache() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(wd))
	dir := filepath.Join(base, "lenetkit-test", hex.EncodeToString(sum[:8]))
	return dir, os.MkdirAll(dir, 0o755)
}

func goBuild(out string) error {
	if b, err := exec.Command("go", "build", "-o", out, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
