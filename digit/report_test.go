package digit

import (
	"image"
	"testing"

	"github.com/lenetkit/lenetkit/internal/mnisttest"
	"github.com/lenetkit/lenetkit/internal/testtool"
)

// TestPolarityGuess checks when the choice of paper is said to be a guess:
// not for ink on a sheet that fills the picture, however little ink, but
// when the border is half paper, half something else.
func TestPolarityGuess(t *testing.T) {
	const side = 60
	// img is a side x side picture of grey bg with a bar of grey ink
	// and, when desk > 0, its right desk columns of grey 40.
	img := func(bg, ink byte, bar image.Rectangle, desk int) []byte {
		g := make([]byte, side*side)
		for y := range side {
			for x := range side {
				v := bg
				switch {
				case x >= side-desk:
					v = 40
				case image.Pt(x, y).In(bar):
					v = ink
				}
				g[y*side+x] = v
			}
		}
		return g
	}
	stroke, thin, long := image.Rect(25, 10, 35, 50), image.Rect(29, 25, 31, 35), image.Rect(25, 0, 35, 60)
	for _, tc := range []struct {
		name         string
		grey         []byte
		dark, unsure bool // dark only when sure
	}{
		{"dark on light", img(230, 20, stroke, 0), true, false},
		{"light on dark", img(10, 240, stroke, 0), false, false},
		{"a speck of ink on a large sheet", img(230, 20, thin, 0), true, false},
		{"a stroke across the sheet", img(230, 20, long, 0), true, false},
		{"the right third a desk", img(230, 20, stroke, 20), false, true},
		{"the right half a desk", img(230, 20, stroke, 30), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dark, unsure := polarity(tc.grey, side, side)
			if unsure != tc.unsure || !unsure && dark != tc.dark {
				t.Errorf("dark %v, unsure %v; want unsure %v, dark %v", dark, unsure, tc.unsure, tc.dark)
			}
		})
	}
}

// TestMNISTUnflagged: MNIST's own test digits, the model's home ground, are
// almost never taken for several marks (8 of 10,000 do: fives whose top
// bar stands apart to the right) and their polarity is never a guess.
func TestMNISTUnflagged(t *testing.T) {
	testtool.SkipShort(t)
	set := mnisttest.Set(t, "test")
	var d [Side * Side]byte
	several, guessed := 0, 0
	for i := range set.N {
		pr, err := prepare(digit(set, i), InvertAuto, &d)
		if err != nil {
			t.Fatalf("test digit %d: %v", i, err)
		}
		if pr.SeveralMarks {
			several++
		}
		if pr.Guessed {
			guessed++
		}
	}
	t.Logf("%d of %d with several marks, %d guessed", several, set.N, guessed)
	if several > 10 || guessed > 0 {
		t.Errorf("%d of %d test digits with several marks, %d with a guessed polarity; want at most 10 and none", several, set.N, guessed)
	}
}
