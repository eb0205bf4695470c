package report

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestPageInBrowser opens an overlay page of a finished and a stopped run
// in headless Chromium, as a reader would open the file, and checks what
// the browser made of it: every chart in the DOM, and on the screenshot
// two columns of charts drawn in the runs' colours. CI installs Debian's
// chromium; elsewhere the test skips without it.
func TestPageInBrowser(t *testing.T) {
	t.Parallel()
	testtool.SkipShort(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testtool.Missing(t, "chromium not found (Debian: apt-get install chromium); the page is not checked in a browser")
	}
	parent := t.TempDir()
	var runs []*Run
	for i, s := range []synthetic{fullRun, stoppedRun} {
		r, err := Read(writeRun(t, parent, fmt.Sprintf("seed%d", i+1), s))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	files, err := Write(filepath.Join(parent, "compare"), runs...)
	if err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(parent, "screenshot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// One start of the browser for both the DOM and the screenshot: the
	// start is most of the test's time.
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--disable-gpu", "--no-sandbox",
		"--user-data-dir="+filepath.Join(parent, "profile"), "--window-size=1200,2000",
		"--screenshot="+shot, "--dump-dom", (&url.URL{Scheme: "file", Path: files.HTML}).String())
	cmd.Env = append(os.Environ(), "HOME="+parent) // chromium keeps caches under HOME
	var dom, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &dom, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, lastLines(stderr.String(), 10))
	}

	// The DOM after the browser parsed the page.
	imgs := chartImage.FindAllStringSubmatch(dom.String(), -1)
	if len(imgs) != 5 {
		t.Errorf("the browser's DOM has %d chart images, want 5", len(imgs))
	}
	for _, want := range []string{"Test figures beside the seed", "99.16 %", "<th>seed2</th>", "Configuration"} {
		if !strings.Contains(dom.String(), want) {
			t.Errorf("the browser's DOM lacks %q", want)
		}
	}

	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, lastLines(stderr.String(), 10))
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	checkScreenshot(t, img)
}

// checkScreenshot looks for the page's layout in a 1200x2000 screenshot:
// not blank, and two columns of charts (three on the left, two on the
// right) drawn in the two runs' colours.
func checkScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != 1200 || b.Dy() != 2000 {
		t.Errorf("screenshot is %dx%d, want 1200x2000", b.Dx(), b.Dy())
	}
	const band = 100
	var inked, blue, orange int
	left, right := map[int]int{}, map[int]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 0xf0 || g < 0xf0 || bl < 0xf0 {
				inked++
			}
			isBlue, isOrange := near(r, g, bl, palette[0]), near(r, g, bl, palette[1])
			if isBlue {
				blue++
			}
			if isOrange {
				orange++
			}
			if isBlue || isOrange {
				if x < b.Min.X+b.Dx()/2 {
					left[(y-b.Min.Y)/band]++
				} else {
					right[(y-b.Min.Y)/band]++
				}
			}
		}
	}
	all := b.Dx() * b.Dy()
	if inked < all/50 || inked > all/2 {
		t.Errorf("%d of %d pixels drawn: the page looks blank or broken", inked, all)
	}
	if blue < 1000 || orange < 300 {
		t.Errorf("%d pixels in the first run's blue, %d in the second's orange: the charts' curves are missing", blue, orange)
	}
	// A chart's curves fill two or three bands; three charts on the left
	// and two on the right fill at least that many.
	bands := func(m map[int]int) int {
		n := 0
		for _, v := range m {
			if v >= 40 {
				n++
			}
		}
		return n
	}
	if bands(left) < 3 || bands(right) < 2 {
		t.Errorf("curves in %d bands of %d pixels on the left and %d on the right; want the charts' two columns", bands(left), band, bands(right))
	}
}

// near reports whether an 8-bit colour is close to c: the browser scales
// the charts, and blends a curve's edges with the background.
func near(r, g, b uint32, c interface{ RGBA() (r, g, b, a uint32) }) bool {
	cr, cg, cb, _ := c.RGBA()
	d := func(x, y uint32) uint32 {
		if x > y {
			return x - y
		}
		return y - x
	}
	return d(r, cr>>8)+d(g, cg>>8)+d(b, cb>>8) < 90
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
