package infer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree makes the files named, empty, below a new directory, which it
// returns; Walk goes by names and never reads the files.
func tree(t *testing.T, names ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range names {
		writeFile(t, filepath.Join(root, filepath.FromSlash(name)), nil)
	}
	return root
}

func walkAll(paths []string) ([]Item, error) {
	var items []Item
	err := Walk(paths, func(it Item) error {
		items = append(items, it)
		return nil
	})
	return items, err
}

func TestWalkDirectory(t *testing.T) {
	root := tree(t,
		"0/a.png", "0/B.PNG", "1/c.jpg", "1/notes.txt", "12/g.gif",
		"7/deep/x.gif", "7/e.bmp", "README", "misc/f.jpeg", "misc/h.Jpg")
	links := true
	for _, l := range [][2]string{
		{filepath.Join("0", "a.png"), "alias.png"},
		{"nowhere.png", "broken.png"},
		{"0", "link"},
	} {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Logf("no symbolic links: %v", err)
			links = false
			break
		}
	}

	const notImage = "not a .png, .jpg, .jpeg, .gif or .bmp file"
	// Each directory's entries in byte order, upper case first; a
	// directory's files before a sibling that sorts after it.
	want := []Item{
		{Path: "0/B.PNG", Label: 0},
		{Path: "0/a.png", Label: 0},
		{Path: "1/c.jpg", Label: 1},
		{Path: "1/notes.txt", Label: 1, Skipped: notImage},
		{Path: "12/g.gif", Label: -1},
		{Path: "7/deep/x.gif", Label: -1},
		{Path: "7/e.bmp", Label: 7},
		{Path: "README", Label: -1, Skipped: notImage},
		{Path: "alias.png", Label: -1},
		{Path: "broken.png", Label: -1, Skipped: "broken symbolic link"},
		{Path: "link", Label: -1, Skipped: "symbolic link to a directory, not followed"},
		{Path: "misc/f.jpeg", Label: -1},
		{Path: "misc/h.Jpg", Label: -1},
	}
	if !links {
		want = slices.DeleteFunc(want, func(it Item) bool {
			return it.Path == "alias.png" || it.Path == "broken.png" || it.Path == "link"
		})
	}
	for i := range want {
		want[i].Path = filepath.Join(root, filepath.FromSlash(want[i].Path))
	}

	got, err := walkAll([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Walk found\n%v\nwant\n%v", got, want)
	}
}

func TestWalkArguments(t *testing.T) {
	root := tree(t, "3/a.png", "b/c.png", "d.txt")
	file := filepath.Join(root, "3", "a.png")
	dir := filepath.Join(root, "b")
	// A file given by name is an input whatever its name; the decoder
	// goes by its content.
	text := filepath.Join(root, "d.txt")
	got, err := walkAll([]string{file, "mnist:test", dir, text, "mnist:train", file})
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{
		{Path: file, Label: 3},
		{Path: "mnist:test", Label: -1, MNIST: "test"},
		{Path: filepath.Join(dir, "c.png"), Label: -1},
		{Path: text, Label: -1},
		{Path: "mnist:train", Label: -1, MNIST: "train"},
		{Path: file, Label: 3},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Walk found\n%v\nwant\n%v", got, want)
	}
}

func TestWalkErrors(t *testing.T) {
	root := tree(t, "ok/a.png", "texts/a.txt", "texts/5/b.md")
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(root, "ok")
	for _, tc := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"nothing", nil, "infer: no images given"},
		{"missing", []string{ok, filepath.Join(root, "nope")}, "infer: " + filepath.Join(root, "nope") + ": no such file or directory"},
		{"empty directory", []string{ok, filepath.Join(root, "empty")}, "infer: " + filepath.Join(root, "empty") + ": no images"},
		{"no images at any depth", []string{filepath.Join(root, "texts"), ok}, "infer: " + filepath.Join(root, "texts") + ": no images"},
		{"unknown part of MNIST", []string{"mnist:valid"}, "infer: mnist:valid: unknown part of MNIST, want mnist:test or mnist:train"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Walk(tc.paths, func(Item) error { calls++; return nil })
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
			// The paths are checked before any work.
			if calls != 0 {
				t.Errorf("fn called %d times before the error", calls)
			}
		})
	}

	t.Run("fn fails", func(t *testing.T) {
		root := tree(t, "a.png", "b.png", "c.png")
		stop := errors.New("stop")
		var seen []string
		err := Walk([]string{root}, func(it Item) error {
			seen = append(seen, filepath.Base(it.Path))
			if len(seen) == 2 {
				return stop
			}
			return nil
		})
		if err != stop || !slices.Equal(seen, []string{"a.png", "b.png"}) {
			t.Errorf("error %v after %v, want %v after [a.png b.png]", err, seen, stop)
		}
	})
}

// TestNonRegularFilesRefused: a named pipe given as an image or a model is
// refused at once, not opened and waited on.
func TestNonRegularFilesRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "digit.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no named pipes here: ", err)
	}
	done := make(chan error, 2)
	go func() { done <- Walk([]string{fifo}, func(Item) error { return nil }) }()
	go func() { _, err := Open(fifo, ""); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), fifo) {
				t.Errorf("error %v, want one naming the file as a named pipe", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked on a named pipe")
		}
	}
}
