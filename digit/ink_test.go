package digit

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/draw"
)

// TestAlphaInk checks that a stroke on a transparent layer is read from the
// alpha channel, whatever its one colour and whatever colour the
// transparent pixels keep, as the same figure in grey, light on dark; and
// that a picture whose opaque pixels differ in colour is still shown over
// white.
func TestAlphaInk(t *testing.T) {
	fig := seven(50, 70, image.Rect(5, 10, 45, 60))
	want := preprocessed(t, fig)
	layer := func(ink, clear color.NRGBA) *image.NRGBA {
		img := image.NewNRGBA(fig.Bounds())
		for i, v := range fig.Pix {
			c := ink
			if v == 0 {
				c = clear
			}
			c.A = v
			img.SetNRGBA(i%50, i/50, c)
		}
		return img
	}
	white := color.NRGBA{255, 255, 255, 0}
	black := color.NRGBA{0, 0, 0, 0}
	premultiplied := image.NewRGBA(fig.Bounds())
	draw.Draw(premultiplied, fig.Bounds(), layer(white, black), image.Point{}, draw.Src)
	greys := make(color.Palette, 256)
	for i := range greys {
		greys[i] = color.NRGBA{255, 255, 255, uint8(i)}
	}
	paletted := image.NewPaletted(fig.Bounds(), greys)
	copy(paletted.Pix, fig.Pix)
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"white on clear black", layer(white, black)},
		{"white on clear white", layer(white, white)},
		{"black on clear white", layer(black, white)},
		{"black on clear black", layer(black, black)},
		{"red on clear black", layer(color.NRGBA{200, 30, 40, 0}, black)},
		{"white, premultiplied", premultiplied},
		{"white, paletted", paletted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := preprocessed(t, tc.img); !sameBits(got, want) {
				t.Errorf("differs from white on black grey, by %.4f on average", meanAbsDiff(got, want))
			}
		})
	}

	// Black ink on opaque white paper, framed by a transparent margin:
	// the paper is part of the picture, not ink.
	framed := image.NewNRGBA(image.Rect(0, 0, 70, 90))
	draw.Draw(framed, fig.Bounds().Add(image.Pt(10, 10)), paper(fig, color.RGBA{A: 255}, color.RGBA{255, 255, 255, 255}), image.Point{}, draw.Src)
	if got := preprocessed(t, framed); !sameBits(got, want) {
		t.Errorf("framed black on white: differs from white on black grey, by %.4f on average", meanAbsDiff(got, want))
	}
	if _, ok := alphaInk(framed); ok {
		t.Error("framed black on white read as ink in the alpha channel")
	}
}

// TestInvert checks --invert's modes: auto agrees with always on dark ink on
// light paper and with never on light on dark, and the mode that goes
// against the picture gives another digit.
func TestInvert(t *testing.T) {
	fig := seven(60, 60, image.Rect(10, 5, 50, 55))
	dark := paper(fig, color.RGBA{20, 20, 20, 255}, color.RGBA{230, 230, 230, 255})
	light := paper(fig, color.RGBA{230, 230, 230, 255}, color.RGBA{20, 20, 20, 255})
	digitOf := func(img image.Image, inv Invert) []byte {
		t.Helper()
		d, err := Digit(img, inv)
		if err != nil {
			t.Fatalf("%v: %v", inv, err)
		}
		return d.Pix
	}
	for _, tc := range []struct {
		name         string
		img          image.Image
		same, differ Invert
	}{
		{"dark on light", dark, InvertAlways, InvertNever},
		{"light on dark", light, InvertNever, InvertAlways},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auto := digitOf(tc.img, InvertAuto)
			if got := digitOf(tc.img, tc.same); string(got) != string(auto) {
				t.Errorf("--invert %v differs from auto", tc.same)
			}
			got := digitOf(tc.img, tc.differ)
			var d float64
			for i := range got {
				d += math.Abs(float64(got[i]) - float64(auto[i]))
			}
			if d /= 255 * float64(len(got)); d < 0.2 {
				t.Errorf("--invert %v: mean absolute difference %.3f from auto, want a different picture", tc.differ, d)
			}
		})
	}
	for _, s := range []string{"auto", "always", "never"} {
		if v, err := ParseInvert(s); err != nil || v.String() != s {
			t.Errorf("ParseInvert(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseInvert("sometimes"); err == nil {
		t.Error("ParseInvert(sometimes): no error")
	}
	if _, err := Digit(dark, Invert(7)); err == nil {
		t.Error("Digit with Invert(7): no error")
	}
}

// TestOtsu checks Otsu's threshold on bimodal histograms, balanced and not,
// and on one value.
func TestOtsu(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	bimodal := func(m0, m1 float64, n0, n1 int) *[256]int {
		var h [256]int
		for range n0 {
			h[int(max(0, min(255, math.Round(m0+12*rng.NormFloat64()))))]++
		}
		for range n1 {
			h[int(max(0, min(255, math.Round(m1+12*rng.NormFloat64()))))]++
		}
		return &h
	}
	var one [256]int
	one[77] = 10
	var two [256]int
	two[40], two[200] = 5, 5
	for _, tc := range []struct {
		name   string
		hist   *[256]int
		lo, hi int
	}{
		// Any threshold in the gap between the two separates them.
		{"balanced", bimodal(60, 180, 5000, 5000), 96, 144},
		{"paper and a little ink", bimodal(200, 60, 9000, 1000), 96, 164},
		{"overlapping", bimodal(100, 150, 5000, 5000), 118, 132},
		{"two values", &two, 40, 199},
		{"one value", &one, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := otsu(tc.hist); got < tc.lo || got > tc.hi {
				t.Errorf("threshold %d, want %d to %d", got, tc.lo, tc.hi)
			}
		})
	}
}

// speck paints a dark disc of radius r centred at (cx, cy).
func speck(img *image.RGBA, cx, cy, r float64, c color.RGBA) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			if math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy) <= r && image.Pt(x, y).In(img.Rect) {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

// grain adds Gaussian noise of deviation sd to every colour channel.
func grain(img *image.RGBA, sd float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range img.Pix {
		if i%4 != 3 {
			img.Pix[i] = uint8(max(0, min(255, math.Round(float64(img.Pix[i])+sd*rng.NormFloat64()))))
		}
	}
}

// TestSpecks checks that dust apart from the digit is left out, on clean
// paper and grainy, and on grainy paper also dust smaller than a stroke
// near the digit (on clean paper such marks are kept, as MNIST's own
// digits have them), while a part of the digit that the pen broke off is
// kept.
func TestSpecks(t *testing.T) {
	fig := seven(120, 120, image.Rect(30, 20, 90, 100))
	ink, sheet := color.RGBA{30, 30, 30, 255}, color.RGBA{220, 220, 220, 255}
	want := preprocessed(t, fig)
	wantBox, _, _ := digitBox(want)

	far := [][3]float64{{8, 8, 2}, {110, 60, 1.5}, {15, 112, 2.5}}
	near := [][3]float64{{100, 110, 1.5}, {25, 60, 2}}
	for _, tc := range []struct {
		name   string
		grain  float64
		specks [][3]float64
	}{
		{"clean", 0, far},
		{"grainy", 6, append(far, near...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := paper(fig, ink, sheet)
			for _, p := range tc.specks {
				speck(img, p[0], p[1], p[2], ink)
			}
			grain(img, tc.grain, 7)
			got := preprocessed(t, img)
			box, _, _ := digitBox(got)
			if box != wantBox {
				t.Errorf("digit spans %v, without the specks %v", box, wantBox)
			}
			if d := alignedDiff(got, want); d > 0.02 {
				t.Errorf("mean absolute difference %.4f from the figure without specks, want at most 0.02", d)
			}
		})
	}

	// A seven whose top bar stands apart from its stem: both are kept.
	broken := paper(fig, ink, sheet)
	for y := 20; y < 120; y++ {
		for x := 80; x < 100; x++ {
			if y >= 34 && y < 40 {
				broken.SetRGBA(x, y, sheet)
			}
		}
	}
	got := preprocessed(t, broken)
	if box, _, _ := digitBox(got); box.Dx() < wantBox.Dx()-1 || box.Dy() < wantBox.Dy()-1 {
		t.Errorf("broken seven spans %v, the whole one %v", box, wantBox)
	}
	if d := alignedDiff(got, want); d > 0.03 {
		t.Errorf("broken seven: mean absolute difference %.4f from the whole one, want at most 0.03", d)
	}
}

// TestUnevenLight checks that a lighting gradient across grey paper, strong
// enough that the dim side's paper is darker than the lit side's ink is
// faint, is evened out: the digit comes back as on even paper, both for
// dark ink on light paper and for light ink on dark.
func TestUnevenLight(t *testing.T) {
	fig := seven(140, 110, image.Rect(40, 15, 100, 95))
	want := preprocessed(t, fig)
	for _, tc := range []struct {
		name       string
		ink, sheet color.RGBA
	}{
		{"dark on light", color.RGBA{40, 40, 45, 255}, color.RGBA{200, 195, 190, 255}},
		{"light on dark", color.RGBA{230, 230, 230, 255}, color.RGBA{60, 60, 60, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := paper(fig, tc.ink, tc.sheet)
			b := img.Bounds()
			for y := range b.Dy() {
				for x := range b.Dx() {
					light := 1 - 0.5*float64(x+y)/float64(b.Dx()+b.Dy())
					for c := range 3 {
						i := img.PixOffset(x, y) + c
						img.Pix[i] = uint8(math.Round(float64(img.Pix[i]) * light))
					}
				}
			}
			grain(img, 3, 8)
			got := preprocessed(t, img)
			gotBox, gx, gy := digitBox(got)
			wantBox, wx, wy := digitBox(want)
			if math.Abs(gx-wx) > 1 || math.Abs(gy-wy) > 1 {
				t.Errorf("centre of mass (%.2f, %.2f), want (%.2f, %.2f) within a pixel", gx, gy, wx, wy)
			}
			if gotBox.Dx() > wantBox.Dx()+2 || gotBox.Dy() > wantBox.Dy()+2 {
				t.Errorf("digit spans %v, on even paper %v", gotBox, wantBox)
			}
			if d := alignedDiff(got, want); d > 0.03 {
				t.Errorf("mean absolute difference %.4f from the figure on even paper, want at most 0.03", d)
			}
		})
	}
}

// TestFlattenLeavesEvenPaper checks that even paper, grainy or not, is not
// touched by the background fit.
func TestFlattenLeavesEvenPaper(t *testing.T) {
	fig := seven(100, 100, image.Rect(20, 20, 80, 80))
	img := paper(fig, color.RGBA{30, 30, 30, 255}, color.RGBA{200, 200, 200, 255})
	for _, sd := range []float64{0, 8} {
		grain(img, sd, 9)
		grey := toGrey(img)
		if _, _, _, ok := flatten(grey, 100, 100, false, false); ok {
			t.Errorf("grain %g: even paper flattened", sd)
		}
	}
}
