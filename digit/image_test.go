package digit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"

	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
	"github.com/lenetkit/lenetkit/mnist"
)

// digit returns image i of set as a grey image.
func digit(set *mnist.Set, i int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(img.Pix, set.Images[i*784:(i+1)*784])
	return img
}

// idxInput is what the IDX path gives the model for image i.
func idxInput(t testing.TB, set *mnist.Set, i int) []float32 {
	t.Helper()
	x := make([]float32, mnist.PixelCount)
	if err := set.Fill([]int{i}, x, nil); err != nil {
		t.Fatal(err)
	}
	return x
}

func preprocessed(t testing.TB, img image.Image) []float32 {
	t.Helper()
	x := make([]float32, mnist.PixelCount)
	if err := Preprocess(img, x); err != nil {
		t.Fatal(err)
	}
	return x
}

// centreOfMass of a model input, in pixel indices of the 32x32 image.
func centreOfMass(x []float32) (cx, cy float64) {
	var m float64
	for i, v := range x {
		m += float64(v)
		cx += float64(v) * float64(i%mnist.Side)
		cy += float64(v) * float64(i/mnist.Side)
	}
	return cx / m, cy / m
}

func meanAbsDiff(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

func sameBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func encode(t testing.TB, format string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "bmp":
		err = bmp.Encode(&buf, img)
	default:
		t.Fatalf("unknown format %s", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMNISTDigitsAsImages checks that a real MNIST digit saved as an image,
// grey or RGB, becomes exactly the input the IDX path makes of it: every
// test digit in memory, and the first thousand written as PNG files, read
// by LoadImage. (Package infer's TestMNISTImageFolder reads them as Walk
// finds them in the ImageFolder layout.)
func TestMNISTDigitsAsImages(t *testing.T) {
	set := mnisttest.Set(t, "test")
	got := make([]float32, mnist.PixelCount)
	for i := range set.N {
		img := digit(set, i)
		rgb := image.NewRGBA(img.Bounds())
		draw.Draw(rgb, rgb.Bounds(), img, image.Point{}, draw.Src)
		for _, im := range []image.Image{img, rgb} {
			if err := Preprocess(im, got); err != nil {
				t.Fatalf("digit %d (%T): %v", i, im, err)
			}
			if want := idxInput(t, set, i); !sameBits(got, want) {
				t.Fatalf("digit %d (%T) differs from the IDX path", i, im)
			}
		}
	}

	const files = 1000
	dir := t.TempDir()
	for i := range files {
		name := filepath.Join(dir, fmt.Sprint(set.Labels[i]), fmt.Sprintf("%05d.png", i))
		writeFile(t, name, encode(t, "png", digit(set, i)))
		if err := LoadImage(name, got); err != nil {
			t.Fatal(err)
		}
		if !sameBits(got, idxInput(t, set, i)) {
			t.Errorf("%s differs from the IDX path", name)
		}
	}
}

// TestInvertedUpscaledDigits checks the path a person's digit takes: real
// MNIST digits, black on white and enlarged to 84x84 RGB, come back close
// to the originals and centred alike. Left at 28x28 (which, being dark on
// light, takes the same path) or enlarged by repeating pixels, nearly
// every digit comes back all but exactly (the ink is stretched to a full
// 255 where the original's peak is 254), since MNIST's box is that of all
// its ink; the few that do not are MNIST's own exceptions, a box of 19
// pixels, a centre of mass exactly half way between two pixels, or a speck
// of strong ink apart from the digit, which is left out.
func TestInvertedUpscaledDigits(t *testing.T) {
	set := mnisttest.Set(t, "test")
	for _, tc := range []struct {
		name     string
		scaler   draw.Scaler
		maxMean  float64 // bound on the mean absolute difference, on average over the digits
		maxOne   float64 // bound on any one digit's
		maxCoM   float64 // bound on the distance between centres of mass, along each axis
		minExact float64 // share of digits that must come back within 0.002
	}{
		{"28x28", nil, 0.0005, 0.12, 1.01, 0.998},
		{"nearest", draw.NearestNeighbor, 0.0005, 0.12, 1.01, 0.998},
		{"bilinear", draw.BiLinear, 0.03, 0.12, 1.01, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sum, worst, worstCoM float64
			exact := 0
			n := set.N
			if testing.Short() {
				n = 2000 // the whole test set in the full run
			}
			for i := range n {
				inv := digit(set, i)
				for j, v := range inv.Pix {
					inv.Pix[j] = 255 - v
				}
				var big *image.RGBA
				if tc.scaler == nil {
					big = image.NewRGBA(inv.Bounds())
					draw.Draw(big, big.Bounds(), inv, image.Point{}, draw.Src)
				} else {
					big = image.NewRGBA(image.Rect(0, 0, 84, 84))
					tc.scaler.Scale(big, big.Bounds(), inv, inv.Bounds(), draw.Src, nil)
				}
				got := preprocessed(t, big)
				want := idxInput(t, set, i)

				d := meanAbsDiff(got, want)
				sum += d
				worst = max(worst, d)
				if d <= 0.002 {
					exact++
				}
				gx, gy := centreOfMass(got)
				wx, wy := centreOfMass(want)
				dc := max(math.Abs(gx-wx), math.Abs(gy-wy))
				worstCoM = max(worstCoM, dc)
				if dc > tc.maxCoM {
					t.Errorf("digit %d: centre of mass (%.2f, %.2f), want (%.2f, %.2f) within %g px", i, gx, gy, wx, wy, tc.maxCoM)
				}
				if d > tc.maxOne {
					t.Errorf("digit %d: mean absolute difference %.4f, want at most %g", i, d, tc.maxOne)
				}
			}
			mean := sum / float64(n)
			t.Logf("%d digits: mean absolute difference %.4f on average, %.4f at worst, within 0.002 for %d; centres of mass apart by %.2f px at worst", n, mean, worst, exact, worstCoM)
			if share := float64(exact) / float64(n); share < tc.minExact {
				t.Errorf("%.2f%% of digits within 0.002, want at least %.2f%%", 100*share, 100*tc.minExact)
			}
			if mean > tc.maxMean {
				t.Errorf("mean absolute difference %.4f on average, want at most %g", mean, tc.maxMean)
			}
		})
	}
}

// seven draws a 7, light antialiased strokes on black, into a w x h grey
// image, the figure filling box r.
func seven(w, h int, r image.Rectangle) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	// Strokes in the unit square, and their width as a share of the box's
	// larger side.
	segs := [][4]float64{{0.05, 0.05, 0.95, 0.05}, {0.95, 0.05, 0.35, 0.95}}
	half := 0.06 * float64(max(r.Dx(), r.Dy()))
	const sub = 4 // subsamples per pixel and axis
	for y := range h {
		for x := range w {
			n := 0
			for sy := range sub {
				for sx := range sub {
					px := float64(x) + (float64(sx)+0.5)/sub
					py := float64(y) + (float64(sy)+0.5)/sub
					for _, s := range segs {
						ax := float64(r.Min.X) + s[0]*float64(r.Dx())
						ay := float64(r.Min.Y) + s[1]*float64(r.Dy())
						bx := float64(r.Min.X) + s[2]*float64(r.Dx())
						by := float64(r.Min.Y) + s[3]*float64(r.Dy())
						if segmentDist(px, py, ax, ay, bx, by) <= half {
							n++
							break
						}
					}
				}
			}
			img.Pix[y*w+x] = byte(n * 255 / (sub * sub))
		}
	}
	return img
}

func segmentDist(px, py, ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	u := ((px-ax)*dx + (py-ay)*dy) / (dx*dx + dy*dy)
	u = max(0, min(1, u))
	return math.Hypot(px-ax-u*dx, py-ay-u*dy)
}

// paper turns a light-on-dark grey image into dark ink of colour ink on
// paper of colour bg, opaque RGBA.
func paper(img *image.Gray, ink, bg color.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	for i, v := range img.Pix {
		mix := func(a, b uint8) uint8 { return uint8((int(a)*int(v) + int(b)*(255-int(v)) + 127) / 255) }
		out.Pix[4*i+0] = mix(ink.R, bg.R)
		out.Pix[4*i+1] = mix(ink.G, bg.G)
		out.Pix[4*i+2] = mix(ink.B, bg.B)
		out.Pix[4*i+3] = 255
	}
	return out
}

// digitBox returns the box around the pixels with any ink in a model input,
// in pixels of the 28x28 image, and the centre of mass in the same units.
func digitBox(x []float32) (box image.Rectangle, cx, cy float64) {
	for i, v := range x {
		if v > 0 {
			px, py := i%mnist.Side-mnist.Pad, i/mnist.Side-mnist.Pad
			box = box.Union(image.Rect(px, py, px+1, py+1))
		}
	}
	cx, cy = centreOfMass(x)
	return box, cx - mnist.Pad, cy - mnist.Pad
}

// TestGeometry checks the crop, the scaling to fit 20x20 keeping the aspect
// ratio, and the centring by centre of mass, on figures of every shape and
// size, anywhere in the picture.
func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		w, h   int
		figure image.Rectangle
	}{
		{"tall, off centre", 300, 200, image.Rect(20, 30, 80, 150)},
		{"square, corner", 100, 100, image.Rect(60, 60, 100, 100)},
		{"wide", 90, 60, image.Rect(5, 20, 85, 40)},
		{"tiny, enlarged", 40, 30, image.Rect(17, 11, 22, 19)},
		{"28x28 but off centre", 28, 28, image.Rect(0, 0, 10, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fig := seven(tc.w, tc.h, tc.figure)
			var ink image.Rectangle
			for i, v := range fig.Pix {
				if v > 0 {
					ink = ink.Union(image.Rect(i%tc.w, i/tc.w, i%tc.w+1, i/tc.w+1))
				}
			}
			// The larger side becomes 20 pixels; the smaller, in
			// proportion, give or take one for rounding and for the
			// faint edges of strokes.
			wantW, wantH := 20, 20
			if ink.Dx() > ink.Dy() {
				wantH = int(math.Round(float64(20*ink.Dy()) / float64(ink.Dx())))
			} else {
				wantW = int(math.Round(float64(20*ink.Dx()) / float64(ink.Dy())))
			}

			// Dark on light, so that even the 28x28 one is cropped.
			img := paper(fig, color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255})
			box, cx, cy := digitBox(preprocessed(t, img))
			if max(box.Dx(), box.Dy()) != 20 || abs(box.Dx()-wantW) > 1 || abs(box.Dy()-wantH) > 1 {
				t.Errorf("digit spans %dx%d pixels, want %dx%d (figure's ink %dx%d)", box.Dx(), box.Dy(), wantW, wantH, ink.Dx(), ink.Dy())
			}
			if math.Abs(cx-comTarget) > 0.5 || math.Abs(cy-comTarget) > 0.5 {
				t.Errorf("centre of mass (%.2f, %.2f), want within half a pixel of (14, 14)", cx, cy)
			}
		})
	}
}

func abs(x int) int { return max(x, -x) }

// alignedDiff is the mean absolute difference between two inputs after
// moving a by up to a pixel each way, whichever is least: centring by whole
// pixels may place the same figure a pixel apart when its centre of mass
// moves a little.
func alignedDiff(a, b []float32) float64 {
	best := math.Inf(1)
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			var s float64
			for y := range mnist.Side {
				for x := range mnist.Side {
					var v float32
					if sx, sy := x-dx, y-dy; 0 <= sx && sx < mnist.Side && 0 <= sy && sy < mnist.Side {
						v = a[sy*mnist.Side+sx]
					}
					s += math.Abs(float64(v) - float64(b[y*mnist.Side+x]))
				}
			}
			best = min(best, s/float64(len(b)))
		}
	}
	return best
}

// TestPolarityAndPaper checks that the same figure gives the same input
// whatever the colours of ink and paper, and with a transparent background,
// which is paper.
func TestPolarityAndPaper(t *testing.T) {
	fig := seven(50, 70, image.Rect(5, 10, 45, 60))
	want := preprocessed(t, fig)

	transparent := image.NewNRGBA(fig.Bounds())
	for i, v := range fig.Pix {
		// Black ink whose coverage is its opacity, on nothing; the
		// colour of the transparent pixels must play no part.
		copy(transparent.Pix[4*i:], []uint8{0, 0, 0, v})
	}
	deep := image.NewGray16(fig.Bounds())
	for i, v := range fig.Pix {
		deep.SetGray16(i%50, i/50, color.Gray16{uint16(v) * 0x101})
	}
	// The figure as part of a larger picture, not at the origin.
	canvas := image.NewRGBA(image.Rect(-10, -10, 100, 100))
	draw.Draw(canvas, fig.Bounds().Add(image.Pt(20, 5)), fig, image.Point{}, draw.Src)
	part := canvas.SubImage(fig.Bounds().Add(image.Pt(20, 5)))
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"black on white", paper(fig, color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255})},
		{"white on black RGB", paper(fig, color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255})},
		{"black on transparent", transparent},
		{"16-bit grey", deep},
		{"part of a picture", part},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := preprocessed(t, tc.img); !sameBits(got, want) {
				t.Errorf("differs from white on black grey, by %.4f on average", meanAbsDiff(got, want))
			}
		})
	}

	// Blue ballpoint on cream paper keeps the figure, levelled to the same
	// range; only rounding of the narrower range of grey levels differs.
	blue := paper(fig, color.RGBA{20, 40, 160, 255}, color.RGBA{250, 240, 215, 255})
	got := preprocessed(t, blue)
	if d := meanAbsDiff(got, want); d > 0.002 {
		t.Errorf("blue on cream: mean absolute difference %.4f, want at most 0.002", d)
	}
}

// TestNoisyPhoto checks that grain and JPEG artefacts on grey paper,
// faint but everywhere, neither widen the crop nor move the digit.
func TestNoisyPhoto(t *testing.T) {
	fig := seven(160, 200, image.Rect(40, 40, 120, 160))
	want := preprocessed(t, fig)

	photo := paper(fig, color.RGBA{60, 60, 70, 255}, color.RGBA{190, 185, 175, 255})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range photo.Pix {
		if i%4 != 3 {
			photo.Pix[i] = uint8(max(0, min(255, float64(photo.Pix[i])+8*rng.NormFloat64())))
		}
	}
	path := filepath.Join(t.TempDir(), "photo.jpg")
	writeFile(t, path, encode(t, "jpeg", photo))
	got := make([]float32, mnist.PixelCount)
	if err := LoadImage(path, got); err != nil {
		t.Fatal(err)
	}
	gotBox, gx, gy := digitBox(got)
	wantBox, wx, wy := digitBox(want)
	if math.Abs(gx-wx) > 1 || math.Abs(gy-wy) > 1 {
		t.Errorf("centre of mass (%.2f, %.2f), want (%.2f, %.2f) within a pixel", gx, gy, wx, wy)
	}
	// Grain left inside the box may light a few more pixels at its edges.
	if gotBox.Dx() > wantBox.Dx()+2 || gotBox.Dy() > wantBox.Dy()+2 || gotBox.Dy() < 20 {
		t.Errorf("digit spans %v, the clean one %v", gotBox, wantBox)
	}
	if d := alignedDiff(got, want); d > 0.03 {
		t.Errorf("mean absolute difference %.4f from the clean figure, want at most 0.03", d)
	}
}

// TestFormats checks that each format decodes, grey or colour, to the input
// its image gives in memory: exactly for the lossless ones, closely for
// JPEG.
func TestFormats(t *testing.T) {
	fig := seven(45, 60, image.Rect(5, 5, 40, 55))
	colour := paper(fig, color.RGBA{30, 30, 120, 255}, color.RGBA{240, 235, 220, 255})
	grey := image.NewGray(fig.Bounds())
	for i, v := range fig.Pix {
		grey.Pix[i] = 255 - v
	}
	greys := make(color.Palette, 256)
	for i := range greys {
		greys[i] = color.Gray{uint8(i)}
	}
	paletted := image.NewPaletted(fig.Bounds(), greys)
	copy(paletted.Pix, grey.Pix)

	dir := t.TempDir()
	for _, tc := range []struct {
		file   string
		format string
		img    image.Image
		lossy  bool
	}{
		{"grey.png", "png", grey, false},
		{"colour.png", "png", colour, false},
		{"grey.gif", "gif", paletted, false},
		{"colour.bmp", "bmp", colour, false},
		{"grey.bmp", "bmp", grey, false},
		{"grey.jpg", "jpeg", grey, true},
		{"colour.JPEG", "jpeg", colour, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			writeFile(t, path, encode(t, tc.format, tc.img))
			got := make([]float32, mnist.PixelCount)
			if err := LoadImage(path, got); err != nil {
				t.Fatal(err)
			}
			want := preprocessed(t, tc.img)
			if d := alignedDiff(got, want); !tc.lossy && !sameBits(got, want) || d > 0.01 {
				t.Errorf("differs from the image in memory by %.4f on average", d)
			}
		})
	}
}

// TestGreyMatchesPIL checks the conversion to grey against PIL's
// convert("L"), on every level of each channel and on random colours.
func TestGreyMatchesPIL(t *testing.T) {
	python := testtool.RequirePython(t, "PIL")
	img := image.NewRGBA(image.Rect(0, 0, 256, 8))
	rng := rand.New(rand.NewPCG(3, 4))
	for x := range 256 {
		for y := range 8 {
			c := color.RGBA{A: 255}
			switch y {
			case 0:
				c.R = uint8(x)
			case 1:
				c.G = uint8(x)
			case 2:
				c.B = uint8(x)
			case 3:
				c.R, c.G, c.B = uint8(x), uint8(x), uint8(x)
			default:
				c.R, c.G, c.B = uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))
			}
			img.SetRGBA(x, y, c)
		}
	}
	path := filepath.Join(t.TempDir(), "colours.png")
	writeFile(t, path, encode(t, "png", img))
	const script = `import sys
from PIL import Image
print(Image.open(sys.argv[1]).convert("RGB").convert("L").tobytes().hex())`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("PIL: %v: %s", err, out)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	got := toGrey(img)
	if !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("pixel (%d, %d) %v: grey %d, PIL %d", i%256, i/256, img.At(i%256, i/256), got[i], want[i])
			}
		}
		t.Fatalf("grey has %d pixels, PIL %d", len(got), len(want))
	}
}

// TestErrors checks that each bad input gives a one-line error naming the
// file and what is wrong with it.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	fig := paper(seven(40, 40, image.Rect(5, 5, 35, 35)), color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255})
	white := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	faint := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range faint.Pix {
		faint.Pix[i] = 200 + uint8(i%7)
	}
	cut := func(b []byte, n int) []byte { return b[:len(b)*n/100] }
	// A valid BMP whose header claims 100000x100000 pixels.
	huge := encode(t, "bmp", image.NewGray(image.Rect(0, 0, 1, 1)))
	binary.LittleEndian.PutUint32(huge[18:], 100000)
	binary.LittleEndian.PutUint32(huge[22:], 100000)

	for _, tc := range []struct {
		file string
		data []byte // nil: no such file
		want string // after "digit: PATH: "
	}{
		{"notes.png", []byte("these are not pixels\n"), "not a PNG, JPEG, GIF or BMP image"},
		{"empty.png", []byte{}, "not a PNG, JPEG, GIF or BMP image"},
		{"cut.png", cut(encode(t, "png", fig), 60), "truncated PNG: unexpected EOF"},
		{"header.png", cut(encode(t, "png", fig), 5), "truncated PNG: unexpected EOF"},
		{"cut.jpg", cut(encode(t, "jpeg", fig), 60), "truncated JPEG: unexpected EOF"},
		{"cut.gif", cut(encode(t, "gif", fig), 60), "truncated GIF: unexpected EOF"},
		{"cut.bmp", cut(encode(t, "bmp", fig), 60), "truncated BMP: unexpected EOF"},
		{"huge.bmp", huge, "BMP image too large: 100000x100000 pixels, at most 67108864"},
		{"white.png", encode(t, "png", white), "blank image: no digit found"},
		{"black.png", encode(t, "png", image.NewGray(image.Rect(0, 0, 28, 28))), "blank image: no digit found"},
		{"faint.png", encode(t, "png", faint), "blank image: no digit found"},
		{"missing.png", nil, "no such file or directory"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if tc.data != nil {
				writeFile(t, path, tc.data)
			}
			err := LoadImage(path, make([]float32, mnist.PixelCount))
			if want := "digit: " + path + ": " + tc.want; err == nil || err.Error() != want {
				t.Errorf("error %v, want %s", err, want)
			}
		})
	}

	// Cut anywhere after its signature, a file is truncated; a GIF needs
	// only its last byte, the trailer, to be cut.
	for _, format := range []string{"png", "jpeg", "gif", "bmp"} {
		t.Run("every cut "+format, func(t *testing.T) {
			b := encode(t, format, fig)
			want := "truncated " + strings.ToUpper(format) + ": unexpected EOF"
			for n := 16; n < len(b)-1; n++ {
				if _, err := Decode(bytes.NewReader(b[:n]), 0); err == nil || err.Error() != want {
					t.Fatalf("first %d of %d bytes: error %v, want %s", n, len(b), err, want)
				}
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		err := LoadImage(dir, make([]float32, mnist.PixelCount))
		if err == nil || !strings.HasPrefix(err.Error(), "digit: "+dir+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %v, want one line naming %s", err, dir)
		}
	})
	for _, tc := range []struct {
		name string
		img  image.Image
		dst  []float32
		want string
	}{
		{"short dst", fig, make([]float32, 28*28), "digit: an image needs 1024 floats (1x32x32), got 784"},
		{"nil image", nil, make([]float32, mnist.PixelCount), "digit: nil image"},
		{"no pixels", image.NewRGBA(image.Rect(3, 3, 3, 9)), make([]float32, mnist.PixelCount), "digit: image has no pixels"},
		{"blank", white, make([]float32, mnist.PixelCount), "digit: blank image: no digit found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Preprocess(tc.img, tc.dst); err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

// FuzzDecode checks that no input makes decoding and preprocessing panic,
// and that every error is one line.
func FuzzDecode(f *testing.F) {
	fig := paper(seven(30, 40, image.Rect(3, 3, 27, 37)), color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255})
	for _, format := range []string{"png", "jpeg", "gif", "bmp"} {
		b := encode(f, format, fig)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	// A stroke on a transparent layer, and a photograph: uneven light,
	// grain and dust.
	layer := image.NewNRGBA(image.Rect(0, 0, 30, 40))
	for i, v := range seven(30, 40, image.Rect(3, 3, 27, 37)).Pix {
		copy(layer.Pix[4*i:], []uint8{255, 255, 255, v})
	}
	f.Add(encode(f, "png", layer))
	photo := paper(seven(48, 48, image.Rect(8, 6, 40, 44)), color.RGBA{40, 40, 40, 255}, color.RGBA{200, 200, 200, 255})
	for i := range photo.Pix {
		if i%4 != 3 {
			photo.Pix[i] = uint8(float64(photo.Pix[i]) * (1 - 0.4*float64(i%(4*48))/(4*48)))
		}
	}
	photo.SetRGBA(2, 45, color.RGBA{A: 255})
	f.Add(encode(f, "jpeg", photo))
	f.Add([]byte("not an image"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := make([]float32, mnist.PixelCount)
		img, err := Decode(bytes.NewReader(data), 0)
		if err == nil {
			err = preprocess(img, dst)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error of more than one line: %q", err)
		}
		for _, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("input value %v outside [0, 1]", v)
			}
		}
	})
}

// BenchmarkPreprocess84 measures a person's digit of the usual kind: 84x84
// RGB, dark on light.
func BenchmarkPreprocess84(b *testing.B) {
	img := paper(seven(84, 84, image.Rect(20, 12, 64, 72)), color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255})
	dst := make([]float32, mnist.PixelCount)
	b.ReportAllocs()
	for b.Loop() {
		if err := Preprocess(img, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeBudget: a few bytes that claim an 8192x8192 progressive CMYK
// JPEG are refused from the header, before any pixel is decoded; a
// baseline frame of the same size within the pixel bound is refused too,
// for the memory its pixels would take, and small images pass.
func TestDecodeBudget(t *testing.T) {
	header := func(sof byte, side, comps int) []byte {
		// SOI and a JFIF APP0, after which Go's decoder reads the frame header alone.
		b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
		n := 8 + 3*comps
		b = append(b, 0xff, sof, byte(n>>8), byte(n), 8, byte(side>>8), byte(side), byte(side>>8), byte(side), byte(comps))
		for c := range comps {
			b = append(b, byte(c+1), 0x11, 0)
		}
		return append(b, 0xff, 0xd9)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"progressive CMYK 8192", header(0xc2, 8192, 4), "progressive JPEG image too large to decode"},
		{"baseline RGB 8000", header(0xc0, 8000, 3), "JPEG image too large to decode"},
	} {
		start := time.Now()
		_, err := Decode(bytes.NewReader(tc.b), 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused after %v", tc.name, d)
		}
	}
	if !progressiveJPEG(bytes.NewReader(header(0xc2, 64, 1))) || progressiveJPEG(bytes.NewReader(header(0xc0, 64, 1))) {
		t.Error("progressiveJPEG misreads the frame type")
	}
	if need := decodeCost(image.Config{ColorModel: color.YCbCrModel, Width: 4000, Height: 3000}, false); need > decodeBudget {
		t.Errorf("a 12-megapixel photo would need %d MB, over the budget", need>>20)
	}
}
