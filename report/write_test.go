package report

import (
	"bytes"
	"encoding/base64"
	"html"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// chartImage matches a chart of the page and captures its PNG data.
var chartImage = regexp.MustCompile(`<img class="chart" alt="[^"]+" src="data:image/png;base64,([A-Za-z0-9+/=]+)">`)

// decodePNG decodes a chart and checks it is a picture, not an empty
// canvas: a good part of it drawn, in more than one colour.
func decodePNG(t *testing.T, what string, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 400 || bounds.Dy() < 200 {
		t.Errorf("%s is %v", what, bounds)
	}
	inked, colours := 0, map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				inked++
			}
			colours[[3]uint32{r >> 12, g >> 12, b >> 12}] = true
		}
	}
	if n := bounds.Dx() * bounds.Dy() / 4; inked < n/100 || len(colours) < 8 {
		t.Errorf("%s looks blank: %d of %d sampled pixels drawn, %d colours", what, inked, n, len(colours))
	}
	return img
}

// checkPage checks what Write wrote: every chart file a PNG, and a page
// that holds the same charts and needs nothing from outside.
func checkPage(t *testing.T, files Files, wants ...string) string {
	t.Helper()
	if len(files.Charts) != 5 {
		t.Errorf("%d charts written, want 5: %v", len(files.Charts), files.Charts)
	}
	for _, name := range files.Charts {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		decodePNG(t, name, b)
	}
	b, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	imgs := chartImage.FindAllStringSubmatch(page, -1)
	if len(imgs) != len(files.Charts) || strings.Count(page, "<img") != len(imgs) {
		t.Errorf("the page has %d chart images of %d <img>, want %d", len(imgs), strings.Count(page, "<img"), len(files.Charts))
	}
	for i, m := range imgs {
		png, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil {
			t.Fatalf("chart %d: %v", i, err)
		}
		decodePNG(t, "inline chart", png)
	}
	// Self-contained: nothing to fetch.
	for _, bad := range []string{"<script", "<link", "@import", "url(", "http://", "https://", "//cdn", `src="/`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	text := html.UnescapeString(page)
	for _, want := range append(wants, "99.16 %", "0.0253") {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	return page
}

func TestWriteFinishedRun(t *testing.T) {
	t.Parallel()
	dir := writeRun(t, t.TempDir(), "seed1", fullRun)
	r, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if files.HTML != filepath.Join(dir, "report.html") || filepath.Dir(files.Charts[0]) != filepath.Join(dir, "charts") {
		t.Errorf("wrote %+v", files)
	}
	checkPage(t, files, "lenetkit run seed1", "99.12 % (-0.04)", "0.0261 (+0.0008)", "3 of 3",
		"recipe_description", "OneCycleLR(defaults, cycle_momentum)")
	// Writing again, as train does after every epoch, replaces the files.
	if _, err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*"))
	if left2, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left)+len(left2) > 0 {
		t.Errorf("temporary files left: %v %v", left, left2)
	}
}

func TestWriteStoppedRun(t *testing.T) {
	t.Parallel()
	dir := writeRun(t, t.TempDir(), "stopped", stoppedRun)
	r, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, files, "no test figures", "1 of 3")
}

// TestWriteOverlay: two runs on the same axes, written elsewhere.
func TestWriteOverlay(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	var runs []*Run
	for _, s := range []struct {
		name string
		run  synthetic
	}{{"seed1", fullRun}, {"seed2", stoppedRun}} {
		r, err := Read(writeRun(t, parent, s.name, s.run))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	out := filepath.Join(parent, "compare")
	files, err := Write(out, runs...)
	if err != nil {
		t.Fatal(err)
	}
	page := checkPage(t, files, "lenetkit runs seed1, seed2", "<th>seed1</th><th>seed2</th>")
	if !strings.Contains(page, "3 of 3") || !strings.Contains(page, "1 of 3") {
		t.Error("the page lacks a run's epochs")
	}
}

// TestWriteDegenerateRuns: runs with nothing to draw, or values a log
// axis cannot show, still give a page.
func TestWriteDegenerateRuns(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "metrics.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := t.TempDir()
	lines := `{"step": 1, "epoch": 1, "train_loss": 0, "learning_rate": 0, "beta1": 0.95, "eval_mode": false}
{"step": 2, "epoch": 1, "train_loss": 0, "learning_rate": 0, "beta1": 0.95, "eval_mode": false}
{"epoch": 1, "train_loss": 0, "val_loss": 0, "val_acc": 0, "seconds": 0}
`
	if err := os.WriteFile(filepath.Join(zero, "metrics.jsonl"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{empty, zero} {
		r, err := Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		files, err := Write(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(files.HTML); err != nil {
			t.Error(err)
		}
	}
	if _, err := Write(t.TempDir()); err == nil {
		t.Error("Write of no run succeeded")
	}
}

func TestLabels(t *testing.T) {
	runs := []*Run{{Dir: "runs/a/1"}, {Dir: "runs/b/1/"}, {Dir: "runs/seed7"}}
	got := strings.Join(labels(runs), " ")
	if want := "runs/a/1 runs/b/1 seed7"; got != want {
		t.Errorf("labels %q, want %q", got, want)
	}
}
