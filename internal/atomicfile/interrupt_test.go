package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// reopen undoes RemoveTemps when t ends: a program calls it once, on its
// way out, but these tests call it in every case.
func reopen(t *testing.T) {
	t.Cleanup(func() {
		mu.Lock()
		interrupted = false
		clear(live)
		mu.Unlock()
		step = nil
	})
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// entries lists dir's names, temporary ones included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestInterruptAtEveryStep calls RemoveTemps, as the signal handler does,
// at each point of each kind of write in turn: before and after the
// create, after the write, before the sync, before and after the rename,
// the nested Write's steps inside a Publish too. Whatever the point, no
// temporary file is left, path holds its old bytes or all the new ones,
// and the write reports ErrInterrupted unless it had finished.
func TestInterruptAtEveryStep(t *testing.T) {
	oldBytes := []byte("the old model\n")
	newBytes := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB: a short write would show
	publish := func(replace bool, write func(tmp string) error) func(string) error {
		return func(path string) error { return Publish(path, replace, write) }
	}
	plain := func(tmp string) error { return os.WriteFile(tmp, newBytes, 0o644) }
	nested := func(tmp string) error { return Write(tmp, writeBytes(newBytes)) } // how modelfile.Write runs inside convert's Publish
	ops := []struct {
		name   string
		exists bool // path holds oldBytes before the write
		write  func(path string) error
	}{
		{"Write/new", false, func(path string) error { return Write(path, writeBytes(newBytes)) }},
		{"Write/replace", true, func(path string) error { return Write(path, writeBytes(newBytes)) }},
		{"Publish/new", false, publish(false, plain)},
		{"Publish/replace", true, publish(true, plain)},
		{"Publish-of-Write/new", false, publish(false, nested)},
		{"Publish-of-Write/replace", true, publish(true, nested)},
	}
	for _, op := range ops {
		setup := func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "model.onnx")
			if op.exists {
				if err := os.WriteFile(path, oldBytes, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return path
		}

		// One run through, uninterrupted, lists the points.
		var steps []string
		t.Run(op.name+"/uninterrupted", func(t *testing.T) {
			reopen(t)
			step = func(name string) { steps = append(steps, name) }
			path := setup(t)
			if err := op.write(path); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, newBytes) {
				t.Errorf("path holds %d bytes, want the %d written", len(b), len(newBytes))
			}
		})
		if len(steps) == 0 || steps[len(steps)-1] != "renamed" {
			t.Fatalf("%s: steps %v, want them to end with the rename into place", op.name, steps)
		}

		for k, at := range steps {
			t.Run(fmt.Sprintf("%s/%02d-%s", op.name, k, at), func(t *testing.T) {
				reopen(t)
				n := 0
				step = func(string) {
					if n == k {
						RemoveTemps()
					}
					n++
				}
				path := setup(t)
				err := op.write(path)
				finished := k == len(steps)-1 // only the outer rename puts the file in place

				if finished && err != nil {
					t.Errorf("interrupted after the rename: %v, want nil", err)
				}
				if !finished && !errors.Is(err, ErrInterrupted) {
					t.Errorf("interrupted at %s: %v, want ErrInterrupted", at, err)
				}
				names := entries(t, filepath.Dir(path))
				for _, name := range names {
					if name != filepath.Base(path) {
						t.Errorf("left behind: %s", name)
					}
				}
				b, rerr := os.ReadFile(path)
				switch {
				case finished:
					if !bytes.Equal(b, newBytes) {
						t.Errorf("path holds %d bytes after the rename, want the %d written (%v)", len(b), len(newBytes), rerr)
					}
				case op.exists:
					if !bytes.Equal(b, oldBytes) {
						t.Errorf("path holds %d bytes, want the old %d untouched (%v)", len(b), len(oldBytes), rerr)
					}
				default:
					if !errors.Is(rerr, os.ErrNotExist) {
						t.Errorf("path exists (%d bytes) after an interrupted write of a new file", len(b))
					}
				}

				// Once interrupted, nothing more is made, not even a
				// temporary file to be removed: the program is about to
				// exit, and one made now would outlive it.
				step = func(name string) {
					if name == "created" {
						t.Errorf("a temporary file was made after RemoveTemps")
					}
				}
				other := filepath.Join(filepath.Dir(path), "other.pth")
				if err := Write(other, writeBytes(newBytes)); !errors.Is(err, ErrInterrupted) {
					t.Errorf("Write after RemoveTemps: %v, want ErrInterrupted", err)
				}
				if err := Publish(other, true, plain); !errors.Is(err, ErrInterrupted) {
					t.Errorf("Publish after RemoveTemps: %v, want ErrInterrupted", err)
				}
				if after := entries(t, filepath.Dir(path)); len(after) != len(names) {
					t.Errorf("after RemoveTemps, writes made %v", after)
				}
			})
		}
	}
}

// TestInterruptRacingWriters: RemoveTemps from another goroutine, as the
// signal handler calls it, at a random moment while writers run Publish
// and Write in a loop. Each destination is absent or whole, and no
// temporary file or folder outlives the writers.
func TestInterruptRacingWriters(t *testing.T) {
	content := bytes.Repeat([]byte{7}, 32<<10)
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	for r := range rounds {
		func() {
			reopen(t)
			dir := t.TempDir()
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", w))
					for {
						var err error
						if w%2 == 0 {
							err = Publish(path, true, func(tmp string) error { return Write(tmp, writeBytes(content)) })
						} else {
							err = Write(path, writeBytes(content))
						}
						if err != nil {
							if !errors.Is(err, ErrInterrupted) {
								t.Errorf("round %d: %v, want ErrInterrupted", r, err)
							}
							return
						}
					}
				}()
			}
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			RemoveTemps()
			wg.Wait()
			for _, name := range entries(t, dir) {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				if name[0] == '.' || !bytes.Equal(b, content) {
					t.Errorf("round %d: %s left behind (%d bytes)", r, name, len(b))
				}
			}
		}()
	}
}
