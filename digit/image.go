package digit

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io/fs"
	"math"

	"github.com/lenetkit/lenetkit/mnist"
)

// Geometry of an MNIST digit, measured on the real data set: every image is
// 28x28; the ink of 99.97 % of them spans exactly 20 pixels in its larger
// dimension; and the centre of mass lies within half a pixel of pixel index
// 14 in both directions (means 14.01 and 13.99), because LeCun's team
// translated each digit by whole pixels to put it there.
const (
	boxSide   = 20
	comTarget = 14.0
)

// Thresholds for telling ink from paper (see Preprocess).
const (
	// minContrast is the least difference, on the image's own 0-255 grey
	// scale, between the background and the strongest ink that counts as
	// a digit; below it there is only paper, grain or a uniform picture.
	minContrast = 32
	// cropFloor is the level, on the levelled scale where paper is 0 and
	// the strongest ink 255, that a pixel must pass to count for the crop.
	// The faint ringing that JPEG leaves around strokes stays below it;
	// MNIST digits enlarged by repeating pixels still come back exactly
	// (all but 12 of the 10,000 test digits; 3 of those have a strong
	// speck apart from the digit, which dropSpecks leaves out), their box
	// being that of all their ink.
	cropFloor = 8
	// strongPeak is the share of the strong ink of a grainy image that is
	// taken to be weaker than full ink (see levels).
	strongPeak = 0.9
)

var errBlank = errors.New("blank image: no digit found")

// LoadImage reads the PNG, JPEG, GIF or BMP file at path and writes it into
// dst as the model's input, as Preprocess does. Every error is one line that
// names the file.
func LoadImage(path string, dst []float32) error {
	return LoadImageWith(path, dst, ImageOptions{})
}

// Preprocess writes a digit image of any size, colour or grey, into dst as
// the model's input: 1x32x32 float32 values in [0, 1], row-major. dst must
// hold 1024 values. The image is made into a digit the way MNIST's were,
// 28x28 8-bit grey with light ink on black, which is then converted exactly
// as the IDX path converts MNIST's (ToTensor, then Pad(2) with zeros). It
// reads the picture as a person would, whether it is a clean drawing, a
// photograph of paper or a stroke on a transparent layer:
//
//   - Grey: PIL's convert("L"), the ITU-R 601-2 luma L = R*299/1000 +
//     G*587/1000 + B*114/1000 of 8-bit values, in PIL's 16-bit fixed point.
//     Translucent pixels are first composited over white: a transparent
//     background is paper. But when a tenth or more of the image is
//     transparent and its opaque pixels are all of about one colour, the
//     digit is in the alpha channel, which is taken as light ink on dark
//     (see alphaInk): white strokes on a transparent layer read as black
//     ones do.
//   - Polarity: when the median of the border pixels (the outermost rows
//     and columns) is lighter than the mean of the whole image, the digit
//     is dark on light and the image is inverted. The median, unlike the
//     mean, ignores a stroke that touches the border. When under three
//     quarters of the border lies within 32 grey levels of its median (a
//     sheet that covers part of the picture), the paper is a guess, which
//     Prepare reports (Report.Guessed) and infer's Classify flags. (Digit
//     can be told the polarity instead: InvertAlways, InvertNever.)
//   - A 28x28 image that is light on dark already is used as it is, unless
//     it is blank: an MNIST digit saved as an image gives exactly the input
//     that the IDX path gives.
//   - Light: a quadratic surface is fitted to the paper (the medians of
//     blocks, those of ink left out); when it varies by 8 grey levels or
//     more, as under a lamp or in a photograph's vignetting, the image is
//     divided by it (subtracted, for light ink on dark paper), and the
//     polarity is that of the pixels straying furthest from it (see
//     flatten), a guess when those straying the other way come to half as
//     far. Even paper, grainy or not, is left as it is.
//   - Levels: paper becomes 0 and the strongest ink 255, so that grey paper
//     and faint pencil look like MNIST. Paper is what the border mostly
//     shows, up to its own grain and JPEG artefacts: its median plus four
//     times its spread from the median to its 90th percentile (no more
//     than the median for a clean image), at most a quarter of the way to
//     the strongest ink. On grainy paper the strongest ink is where nine
//     tenths of the strong ink, above Otsu's threshold, is weaker, not the
//     one darkest pixel. When the strongest ink differs from the border's
//     median by less than 32 grey levels, the image is blank, an error.
//   - Specks: the ink, pixels above 8 of 255 (1/32 of full ink), is split
//     into connected components; the one of the most ink is the digit,
//     with the parts of it that are large or near, and the rest, dust and
//     stray marks, is painted over with paper (see dropSpecks). Strong ink
//     is that above Otsu's threshold among the ink's levels. Kept parts of
//     two fifths of the digit's ink or more that stand beside it, not over
//     it, make it several marks, as "42" is, which Prepare reports
//     (Report.SeveralMarks) and infer's Classify flags.
//   - Crop: to the box around the ink that is left.
//   - Scale: the box is scaled to fit 20x20 keeping its aspect ratio,
//     averaging over the area each new pixel covers when shrinking,
//     bilinear when enlarging a small crop, and rounded to 8 bits.
//   - Centre: the scaled digit is placed in the 28x28 image, moved by whole
//     pixels so that its centre of mass falls as near as it can to pixel
//     (14, 14) without leaving the image, as in MNIST, whose digits all
//     have it within half a pixel of there.
func Preprocess(img image.Image, dst []float32) error {
	if err := checkDst(dst); err != nil {
		return err
	}
	if err := preprocess(img, dst); err != nil {
		return fmt.Errorf("digit: %w", err)
	}
	return nil
}

func checkDst(dst []float32) error {
	if len(dst) != mnist.PixelCount {
		return fmt.Errorf("digit: an image needs %d floats (1x%dx%d), got %d", mnist.PixelCount, mnist.Side, mnist.Side, len(dst))
	}
	return nil
}

// pathError puts the path first, once: the errors of package os name it
// after the operation ("open digits/7.png: ...").
func pathError(path string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("digit: %s: %w", path, err)
}

func preprocess(img image.Image, dst []float32) error {
	var digit [Side * Side]byte
	if _, err := prepare(img, InvertAuto, &digit); err != nil {
		return err
	}
	return fill(digit[:], dst)
}

// prepare makes img into a digit as MNIST's are (see Preprocess), and
// reports what it found.
func prepare(img image.Image, inv Invert, digit *[Side * Side]byte) (pr Report, err error) {
	defer func() { pr.SeveralMarks = pr.Marks > 1 }()
	if img == nil {
		return pr, errors.New("nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return pr, errors.New("image has no pixels")
	}
	w, h := b.Dx(), b.Dy()
	var grey []byte
	alpha := false
	if inv == InvertAuto {
		grey, alpha = alphaInk(img)
	}
	if !alpha {
		grey = toGrey(img)
	}
	invert := inv == InvertAlways
	if inv == InvertAuto && !alpha {
		invert, pr.Guessed = polarity(grey, w, h)
	}
	forced := inv != InvertAuto
	if w == Side && h == Side && !invert {
		lv, err := levels(grey, w, h, invert, forced)
		if err != nil {
			return pr, err
		}
		// Counted on a copy: the digit is used as it is.
		if _, comps, ok := inkComponents(grey, w, h, lv); ok {
			for k := range comps {
				comps[k].keep = true
			}
			pr.Marks = marks(comps)
		}
		copy(digit[:], grey)
		return pr, nil
	}
	if !alpha {
		if flat, dark, unsure, ok := flatten(grey, w, h, forced, invert); ok {
			// Under uneven light the fit's verdict replaces the border's.
			grey, invert, pr.Guessed = flat, dark, unsure
		}
	}
	lv, err := levels(grey, w, h, invert, forced)
	if err != nil {
		return pr, err
	}
	// Painting specks over may lower the strongest ink: level again, and
	// look again at what the new levels show.
	for range 2 {
		dropped, n := dropSpecks(grey, w, h, lv)
		pr.Marks = n
		if !dropped {
			break
		}
		if lv, err = levels(grey, w, h, invert, forced); err != nil {
			return pr, err
		}
	}
	small, nw, nh := fit(grey, w, lv.level)
	return pr, centre(digit, small, nw, nh)
}

// inkLevels is what levels finds of an image's ink and paper.
type inkLevels struct {
	level  *[256]float64 // of each grey value: 0 for paper, 255 for the strongest ink
	paper  byte          // the grey of the paper, the border's median
	clean  bool          // whether the border's paper is even: no grain, no JPEG artefacts
	strong float64       // the level above which ink is strong, not faint (Otsu's threshold)
}

// borderHist counts the grey values of the image's outermost rows and
// columns.
func borderHist(grey []byte, w, h int) *[256]int {
	var border [256]int
	for x := range w {
		border[grey[x]]++
		if h > 1 {
			border[grey[(h-1)*w+x]]++
		}
	}
	for y := 1; y < h-1; y++ {
		border[grey[y*w]]++
		if w > 1 {
			border[grey[y*w+w-1]]++
		}
	}
	return &border
}

// Telling the polarity, and when it is a guess.
const (
	// polarityMargin is how many times the evidence for one polarity must
	// outweigh that for the other for the choice not to be a guess.
	polarityMargin = 2
	// borderAgree is the least share, in 1/100, of the border's pixels
	// within minContrast of its median for the border to be taken as
	// paper without doubt: a border that is half ink says little.
	borderAgree = 75
)

// polarity tells whether a w x h grey image is dark ink on light paper:
// whether the median of its border is lighter than the mean of the whole.
// unsure is set when the border is not mostly of one grey: the paper is
// then a guess. (A mean near the border's median is no doubt: it is a
// small digit on a large sheet.)
func polarity(grey []byte, w, h int) (dark, unsure bool) {
	var sum int64
	for _, v := range grey {
		sum += int64(v)
	}
	border := borderHist(grey, w, h)
	med := percentile(border, 0.5)
	n, near := 0, 0
	for v, c := range border {
		n += c
		if max(v-med, med-v) < minContrast {
			near += c
		}
	}
	return int64(med)*int64(len(grey)) > sum, 100*near < borderAgree*n
}

// levels finds the paper and the ink of a w x h grey image, dark ink on
// light paper when invert is set. When the polarity was forced on it and
// the border shows ink, the paper is the lighter (or, inverted, darker) of
// the two classes Otsu's threshold separates.
func levels(grey []byte, w, h int, invert, forced bool) (*inkLevels, error) {
	border := borderHist(grey, w, h)
	var all [256]int
	for _, v := range grey {
		all[v]++
	}
	// ink is the amount of ink that each grey value shows.
	var ink, inkBorder, inkAll [256]int
	for v := range ink {
		ink[v] = v
		if invert {
			ink[v] = 255 - v
		}
		inkBorder[ink[v]] = border[v]
		inkAll[ink[v]] = all[v]
	}
	peak := 0
	for v := range 256 {
		if inkAll[v] > 0 {
			peak = v
		}
	}
	background := percentile(&inkBorder, 0.5)
	spread := percentile(&inkBorder, 0.9) - background
	if forced && peak-background < minContrast {
		var lower [256]int
		copy(lower[:otsu(&inkAll)+1], inkAll[:])
		background = percentile(&lower, 0.5)
		spread = percentile(&lower, 0.9) - background
	}
	if peak-background < minContrast {
		return nil, errBlank
	}
	if spread > 0 {
		// Grain lifts the strongest pixel above the ink around it: the
		// ink is at its strongest where nine tenths of the strong ink
		// (above Otsu's threshold) is weaker, as MNIST's cores are.
		var strong [256]int
		t := otsu(&inkAll)
		copy(strong[t+1:], inkAll[t+1:])
		peak = max(background+minContrast, percentile(&strong, strongPeak))
	}
	// Grain and JPEG artefacts, left in, would widen the crop and pull the
	// centre of mass towards the middle of the box.
	paper := background + 4*spread
	paper = min(paper, background+(peak-background)/4)
	lv := &inkLevels{level: new([256]float64), paper: byte(background), clean: spread == 0}
	if invert {
		lv.paper = byte(255 - background)
	}
	var levelled [256]int
	for v := range lv.level {
		l := min(255, float64(max(0, ink[v]-paper))*255/float64(peak-paper))
		lv.level[v] = l
		if l > cropFloor && all[v] > 0 {
			levelled[int(l)] += all[v]
		}
	}
	lv.strong = float64(otsu(&levelled))
	return lv, nil
}

// fit crops a grey image of width w to its ink and scales the crop to fit
// 20x20, returning the nw x nh levels, rounded.
func fit(grey []byte, w int, level *[256]float64) (small []byte, nw, nh int) {
	h := len(grey) / w
	x0, y0, x1, y1 := w, h, 0, 0
	for y := range h {
		for x, v := range grey[y*w : (y+1)*w] {
			if level[v] > cropFloor {
				x0, y0 = min(x0, x), min(y0, y)
				x1, y1 = max(x1, x+1), max(y1, y+1)
			}
		}
	}
	// levels leaves the strongest ink at 255, so the box is not empty.
	cw, ch := x1-x0, y1-y0
	nw, nh = boxSide, boxSide
	if cw > ch {
		nh = max(1, (2*ch*boxSide+cw)/(2*cw))
	} else if ch > cw {
		nw = max(1, (2*cw*boxSide+ch)/(2*ch))
	}

	// Separably: rows first, from the grey crop through level, then
	// columns.
	rows := make([]float64, nw*ch)
	xt := taps(cw, nw)
	for y := range ch {
		src := grey[(y0+y)*w+x0 : (y0+y)*w+x1]
		out := rows[y*nw : (y+1)*nw]
		for ox, ts := range xt {
			var s float64
			for _, t := range ts {
				s += t.w * level[src[t.i]]
			}
			out[ox] = s
		}
	}
	small = make([]byte, nw*nh)
	for oy, ts := range taps(ch, nh) {
		for ox := range nw {
			var s float64
			for _, t := range ts {
				s += t.w * rows[t.i*nw+ox]
			}
			small[oy*nw+ox] = byte(min(255, math.Round(s)))
		}
	}
	return small, nw, nh
}

// centre places an nw x nh digit in the 28x28 image by its centre of mass.
func centre(digit *[Side * Side]byte, small []byte, nw, nh int) error {
	var mass, mx, my float64
	for i, v := range small {
		mass += float64(v)
		mx += float64(v) * float64(i%nw)
		my += float64(v) * float64(i/nw)
	}
	if mass == 0 {
		return errBlank
	}
	ox := min(max(0, int(math.Round(comTarget-mx/mass))), Side-nw)
	oy := min(max(0, int(math.Round(comTarget-my/mass))), Side-nh)
	for y := range nh {
		copy(digit[(oy+y)*Side+ox:], small[y*nw:(y+1)*nw])
	}
	return nil
}

// fill converts a 28x28 digit to the model's input through package mnist,
// so that a digit read from an image and the same digit read from the IDX
// files become the same floats.
func fill(digit []byte, dst []float32) error {
	s := mnist.Set{Images: digit, Labels: []byte{0}, N: 1, Rows: Side, Cols: Side}
	return s.Fill([]int{0}, dst, nil)
}

// percentile returns the value of rank floor(p*(n-1)), counting from 0, of
// the n values counted in hist: the lower median for p = 0.5.
func percentile(hist *[256]int, p float64) int {
	n := 0
	for _, c := range hist {
		n += c
	}
	k := int(p * float64(n-1))
	for v, c := range hist {
		if k < c {
			return v
		}
		k -= c
	}
	return 255
}

// tap is one source pixel's weight in a resampled pixel.
type tap struct {
	i int
	w float64
}

// taps returns, for each of m output pixels along an axis of n source
// pixels, the source pixels it is made of. Shrinking averages over the
// source interval [o*n/m, (o+1)*n/m) each output pixel o covers, in exact
// integer units of 1/m; enlarging interpolates linearly between the two
// nearest source pixels, pixel centres aligned.
func taps(n, m int) [][]tap {
	ts := make([][]tap, m)
	if m < n {
		for o := range ts {
			lo, hi := o*n, (o+1)*n
			for i := lo / m; i*m < hi; i++ {
				overlap := min(hi, (i+1)*m) - max(lo, i*m)
				ts[o] = append(ts[o], tap{i, float64(overlap) / float64(n)})
			}
		}
		return ts
	}
	for o := range ts {
		s := (float64(o)+0.5)*float64(n)/float64(m) - 0.5
		s = max(0, min(s, float64(n-1)))
		i := int(s)
		f := s - float64(i)
		ts[o] = append(ts[o], tap{i, 1 - f})
		if f > 0 {
			ts[o] = append(ts[o], tap{i + 1, f})
		}
	}
	return ts
}

// toGrey returns the image's 8-bit grey levels, row-major from its top-left
// corner. The decoders' usual image types are read directly, which avoids
// boxing every pixel's colour in an interface; each case still goes
// through its colour type's RGBA method, so all of them convert alike.
func toGrey(img image.Image) []byte {
	b := img.Bounds()
	w := b.Dx()
	grey := make([]byte, w*b.Dy())
	i := 0
	switch m := img.(type) {
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			i += copy(grey[i:], m.Pix[off:off+w])
		}
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			row := m.Pix[off : off+4*w]
			for j := 0; j < len(row); j += 4 {
				p := row[j : j+4 : j+4]
				grey[i] = luma(color.RGBA{p[0], p[1], p[2], p[3]}.RGBA())
				i++
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			row := m.Pix[off : off+4*w]
			for j := 0; j < len(row); j += 4 {
				p := row[j : j+4 : j+4]
				grey[i] = luma(color.NRGBA{p[0], p[1], p[2], p[3]}.RGBA())
				i++
			}
		}
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				grey[i] = luma(m.YCbCrAt(x, y).RGBA())
				i++
			}
		}
	case *image.Paletted:
		// Decoders reject indices beyond the palette; an image built
		// otherwise gets black for them rather than a panic.
		var lut [256]byte
		for j, c := range m.Palette[:min(len(m.Palette), 256)] {
			lut[j] = luma(c.RGBA())
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			for _, j := range m.Pix[off : off+w] {
				grey[i] = lut[j]
				i++
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				grey[i] = luma(img.At(x, y).RGBA())
				i++
			}
		}
	}
	return grey
}

// luma is PIL's convert("L") of a colour given as premultiplied 16-bit
// values, composited over white first. PIL computes the ITU-R 601-2 luma
// (299, 587, 114)/1000 in 16-bit fixed point, rounding.
func luma(r, g, b, a uint32) byte {
	paper := 0xffff - min(a, 0xffff)
	r8 := min(r+paper, 0xffff) >> 8
	g8 := min(g+paper, 0xffff) >> 8
	b8 := min(b+paper, 0xffff) >> 8
	return byte((19595*r8 + 38470*g8 + 7471*b8 + 1<<15) >> 16)
}
