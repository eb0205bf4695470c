package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveTempsMidWrite: what a signal handler does while a Write and a
// Publish are under way leaves neither their temporary files nor a target,
// and both report ErrInterrupted.
func TestRemoveTempsMidWrite(t *testing.T) {
	reopen(t)
	dir := t.TempDir()
	inWrite, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 2)
	go func() {
		done <- Write(filepath.Join(dir, "a.pth"), func(w io.Writer) error {
			w.Write(make([]byte, 1<<20))
			inWrite <- struct{}{}
			<-release
			return errors.New("write failed")
		})
	}()
	go func() {
		done <- Publish(filepath.Join(dir, "b.onnx"), false, func(tmp string) error {
			os.WriteFile(tmp, make([]byte, 1<<20), 0o644)
			inWrite <- struct{}{}
			<-release
			return errors.New("write failed")
		})
	}()
	<-inWrite
	<-inWrite
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("%d temporary entries while writing, want 2", len(entries))
	}
	RemoveTemps()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("RemoveTemps left %d entries, e.g. %s", len(entries), entries[0].Name())
	}
	close(release)
	for range 2 {
		// The write's own failure came from the interrupt: the caller
		// must hear that, to exit as for one.
		if err := <-done; !errors.Is(err, ErrInterrupted) {
			t.Errorf("interrupted write: %v, want ErrInterrupted", err)
		}
	}
}

func TestPublishCreatesOnlyOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.pth")
	write := func(b string) func(string) error {
		return func(tmp string) error { return os.WriteFile(tmp, []byte(b), 0o644) }
	}
	if err := Publish(path, false, write("first")); err != nil {
		t.Fatal(err)
	}
	if err := Publish(path, false, write("second")); !errors.Is(err, ErrExist) {
		t.Errorf("second Publish without replace: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("file holds %q after a refused Publish", b)
	}
	if err := Publish(path, true, write("third")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "third" {
		t.Errorf("replace: file holds %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left, want 1", len(entries))
	}
}
