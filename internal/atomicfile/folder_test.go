package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFolderErrors: a file that cannot be written is reported by its
// folder, as the user named it, never by a temporary name; and a check
// leaves nothing behind.
func TestFolderErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.pth")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nodir", "sub")
	write := func(path string) error { return Write(path, writeBytes([]byte("x"))) }
	publish := func(path string) error {
		return Publish(path, true, func(tmp string) error { return os.WriteFile(tmp, []byte("x"), 0o644) })
	}
	cases := []struct {
		name string
		do   func() error
		want string
	}{
		{"Write, folder missing", func() error { return write(filepath.Join(missing, "m.onnx")) },
			"cannot write " + filepath.Join(missing, "m.onnx") + ": the folder " + missing + " does not exist (create it first)"},
		{"Publish, folder missing", func() error { return publish(filepath.Join(missing, "m.onnx")) },
			"cannot write " + filepath.Join(missing, "m.onnx") + ": the folder " + missing + " does not exist (create it first)"},
		{"CheckFile, folder missing", func() error { return CheckFile(filepath.Join(missing, "m.onnx")) },
			"the folder " + missing + " does not exist"},
		{"Write under a file", func() error { return write(filepath.Join(file, "m.onnx")) }, file + " is a file, not a folder"},
		{"Publish under a file's child", func() error { return publish(filepath.Join(file, "a", "m.onnx")) }, file + " is a file, not a folder"},
		{"CheckDir under a file", func() error { return CheckDir(filepath.Join(file, "runs", "1")) }, file + " is a file, not a folder"},
		{"CheckDir of a file", func() error { return CheckDir(file) }, "cannot write " + file + ": it is a file, not a folder"},
		{"Publish over a folder", func() error { return publish(folder) }, folder + " is a directory, which a file cannot replace"},
		{"Write over a folder", func() error { return write(folder) }, folder + " is a directory, which a file cannot replace"},
	}
	for _, c := range cases {
		err := c.do()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), ".tmp") || strings.Contains(err.Error(), ".new") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, ok := range []func() error{
		func() error { return CheckFile(filepath.Join(dir, "new.pth")) },
		func() error { return CheckDir(filepath.Join(dir, "runs", "a", "b")) },
		func() error { return CheckDir(folder) },
	} {
		if err := ok(); err != nil {
			t.Error(err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%s holds %v, want only file and folder.pth", dir, ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("CheckDir made the folder")
	}
}

// TestNotWritable: what a folder the user cannot write to is reported as.
// Root writes anywhere, so the error is the one the system gives, handed
// in; TestFolderNotWritable in cmd/lenetkit runs the real thing as another
// user.
func TestNotWritable(t *testing.T) {
	err := folderError("model.onnx", ".", &fs.PathError{Op: "mkdir", Path: "./.model.onnx.new1189763326", Err: syscall.EACCES})
	var fe *FolderError
	if !errors.As(err, &fe) || err.Error() != "cannot write model.onnx: the folder . is not writable" || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v", err)
	}
	err = folderError("m.pth", "/mnt", &fs.PathError{Op: "open", Path: "/mnt/.m.pth.tmp1", Err: syscall.EROFS})
	if err.Error() != "cannot write m.pth: the folder /mnt is on a read-only file system" {
		t.Errorf("%v", err)
	}
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		want := "cannot write " + filepath.Join(dir, "m.onnx") + ": the folder " + dir + " is not writable"
		if err := CheckFile(filepath.Join(dir, "m.onnx")); err == nil || err.Error() != want {
			t.Errorf("CheckFile: %v, want %q", err, want)
		}
	}
}
