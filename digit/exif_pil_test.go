package digit

import (
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestExifOrientationMatchesPIL: a JPEG carrying each Exif orientation, 1
// to 8, decodes as PIL's ImageOps.exif_transpose shows it: the same size,
// and the same grey pixels within what two JPEG decoders differ by, where
// a turn the wrong way differs by whole blocks.
func TestExifOrientationMatchesPIL(t *testing.T) {
	python := testtool.RequirePython(t, "PIL")
	dir := t.TempDir()
	const script = `import sys
from PIL import Image, ImageOps
w, h = 48, 32
img = Image.new("L", (w, h), 0)
for y in range(h):
    for x in range(w):
        # blocks of 8 whose levels tell every corner from the others
        img.putpixel((x, y), ((x // 8) * 40 + (y // 8) * 9) % 256)
for o in range(1, 9):
    path = "%s/o%d.jpg" % (sys.argv[1], o)
    exif = Image.Exif()
    exif[0x0112] = o
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(path)).convert("L")
    print(o, shown.size[0], shown.size[1], shown.tobytes().hex())`
	out, err := exec.Command(python, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("PIL: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 8 {
		t.Fatalf("PIL wrote %d orientations of 8:\n%s", len(lines), out)
	}
	for _, line := range lines {
		var o, w, h int
		var px string
		if _, err := fmt.Sscan(line, &o, &w, &h, &px); err != nil {
			t.Fatal(err)
		}
		want, err := hex.DecodeString(px)
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeFile(filepath.Join(dir, fmt.Sprintf("o%d.jpg", o)))
		if err != nil {
			t.Fatal(err)
		}
		g, err := Grey(img)
		if err != nil {
			t.Fatal(err)
		}
		if g.Rect.Dx() != w || g.Rect.Dy() != h {
			t.Errorf("orientation %d: %dx%d, PIL shows %dx%d", o, g.Rect.Dx(), g.Rect.Dy(), w, h)
			continue
		}
		worst := 0
		for y := range h {
			for x := range w {
				d := int(g.Pix[y*g.Stride+x]) - int(want[y*w+x])
				worst = max(worst, d, -d)
			}
		}
		if worst > 12 {
			t.Errorf("orientation %d: a pixel %d levels from PIL's", o, worst)
		}
	}
}
