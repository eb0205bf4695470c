package digit

import (
	"math"
	"slices"
)

// Telling ink from paper in a photograph: uneven light (flatten), the
// threshold between faint and strong ink (otsu), and specks of dust apart
// from the digit (dropSpecks).

// Background: a smooth surface fitted to the paper.
const (
	// bgBlocks is the most blocks, along each axis, whose medians the
	// background surface is fitted to.
	bgBlocks = 16
	// bgMinSide is the least width and height of an image whose light is
	// looked at: smaller images are taken as evenly lit.
	bgMinSide = 16
	// bgMinRange is the least difference, in grey levels, between the
	// lightest and the darkest paper across the image that is corrected.
	// Even paper, grain and JPEG artefacts stay below it; a clean image
	// is left exactly as it is.
	bgMinRange = 8
)

// surface is a quadratic in the image's coordinates scaled to [-1, 1]:
// c0 + c1 x + c2 y + c3 x^2 + c4 xy + c5 y^2.
type surface [6]float64

func (s *surface) at(x, y float64) float64 {
	return s[0] + s[1]*x + s[2]*y + s[3]*x*x + s[4]*x*y + s[5]*y*y
}

func terms(x, y float64) [6]float64 { return [6]float64{1, x, y, x * x, x * y, y * y} }

// flatten evens out the light on a w x h grey image. It fits a smooth
// surface to the paper: a quadratic, by least squares, to the medians of up
// to 16x16 blocks (of 8x8 pixels or more), leaving out the blocks that
// stray from the fit, which are mostly ink. When the surface varies by 8
// grey levels or more across the image, each pixel is divided by it (dark
// ink on light paper: the light falls on ink and paper alike) or has it
// subtracted (light ink on dark), so that the paper comes out even, at the
// surface's median grey. isDark is which of the two the picture is: dark
// when the caller knows it (known), else the side to which the pixels stray
// from the surface further; unsure is set when the other side's strays come
// near (see polarityMargin). ok is false, and nothing made, when the light
// is even, the image too small to tell, or the blocks mostly ink.
func flatten(grey []byte, w, h int, known, dark bool) (flat []byte, isDark, unsure, ok bool) {
	if w < bgMinSide || h < bgMinSide {
		return nil, dark, false, false
	}
	nx, ny := max(4, min(bgBlocks, w/8)), max(4, min(bgBlocks, h/8))
	type block struct {
		x, y   float64 // centre, scaled to [-1, 1]
		median float64
		in     bool
	}
	blocks := make([]block, 0, nx*ny)
	var buf []byte
	var hist [256]int
	for by := range ny {
		y0, y1 := by*h/ny, (by+1)*h/ny
		for bx := range nx {
			x0, x1 := bx*w/nx, (bx+1)*w/nx
			// The lower median: sorting a small block, counting a large one.
			var med int
			if n := (x1 - x0) * (y1 - y0); n <= 1024 {
				buf = buf[:0]
				for y := y0; y < y1; y++ {
					buf = append(buf, grey[y*w+x0:y*w+x1]...)
				}
				slices.Sort(buf)
				med = int(buf[(n-1)/2])
			} else {
				clear(hist[:])
				for y := y0; y < y1; y++ {
					for _, v := range grey[y*w+x0 : y*w+x1] {
						hist[v]++
					}
				}
				med = percentile(&hist, 0.5)
			}
			blocks = append(blocks, block{
				x:      scaled(float64(x0+x1)/2, w),
				y:      scaled(float64(y0+y1)/2, h),
				median: float64(med),
			})
		}
	}

	// Start from the median of the blocks, then fit the quadratic to the
	// blocks near the last fit, four times over: the ink's blocks stray
	// far from the paper's and are left out.
	meds := make([]float64, len(blocks))
	for i, b := range blocks {
		meds[i] = b.median
	}
	var s surface
	s[0] = median(meds)
	res := make([]float64, len(blocks))
	for range 5 {
		for i, b := range blocks {
			res[i] = math.Abs(b.median - s.at(b.x, b.y))
		}
		tol := max(2, 2.5*1.4826*median(slices.Clone(res)))
		n := 0
		for i := range blocks {
			blocks[i].in = res[i] <= tol
			if blocks[i].in {
				n++
			}
		}
		if 2*n < len(blocks) {
			return nil, dark, false, false // mostly ink, or no paper to speak of
		}
		var ata [6][6]float64
		var atb [6]float64
		for _, b := range blocks {
			if !b.in {
				continue
			}
			t := terms(b.x, b.y)
			for r := range t {
				for c := range t {
					ata[r][c] += t[r] * t[c]
				}
				atb[r] += t[r] * b.median
			}
		}
		next, ok := solve(ata, atb)
		if !ok {
			return nil, dark, false, false
		}
		s = next
	}

	// The surface's range over the image, on a grid fine enough for a
	// quadratic, and its median over the blocks' centres.
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := 0; i <= 16; i++ {
		for j := 0; j <= 16; j++ {
			v := s.at(float64(i)/8-1, float64(j)/8-1)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi-lo < bgMinRange {
		return nil, dark, false, false
	}
	fitted := make([]float64, len(blocks))
	for i, b := range blocks {
		fitted[i] = s.at(b.x, b.y)
	}
	ref := median(slices.Clone(fitted))

	if !known {
		// Strays beyond the paper's own spread, weighed by how far they
		// go: ink strays one way, grain both.
		for i, b := range blocks {
			res[i] = math.Abs(b.median - fitted[i])
		}
		tol := max(4, 4*1.4826*median(res))
		var below, above float64
		for y := range h {
			sy := scaled(float64(y)+0.5, h)
			for x, v := range grey[y*w : (y+1)*w] {
				d := float64(v) - s.at(scaled(float64(x)+0.5, w), sy)
				if d < -tol {
					below += -d - tol
				} else if d > tol {
					above += d - tol
				}
			}
		}
		dark = below > above
		unsure = polarityMargin*min(below, above) > max(below, above)
	}

	flat = make([]byte, len(grey))
	for y := range h {
		sy := scaled(float64(y)+0.5, h)
		for x, v := range grey[y*w : (y+1)*w] {
			bg := s.at(scaled(float64(x)+0.5, w), sy)
			var f float64
			if dark {
				f = float64(v) * ref / max(bg, 1)
			} else {
				f = float64(v) - bg + ref
			}
			flat[y*w+x] = byte(max(0, min(255, math.Round(f))))
		}
	}
	return flat, dark, unsure, true
}

// scaled maps a coordinate in [0, n] to [-1, 1].
func scaled(v float64, n int) float64 { return 2*v/float64(n) - 1 }

// median of v, which it reorders; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// solve solves the 6x6 system a x = b by Gaussian elimination with partial
// pivoting; ok is false when a is singular.
func solve(a [6][6]float64, b [6]float64) (x surface, ok bool) {
	const n = 6
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-9 {
			return x, false
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < n; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k < n; k++ {
				a[r][k] -= f * a[c][k]
			}
			b[r] -= f * b[c]
		}
	}
	for r := n - 1; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < n; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}

// otsu returns Otsu's threshold for the values counted in hist: the t that
// best separates the values <= t from those above it, maximising the
// variance between the two classes. It returns 0 when there is only one
// value.
func otsu(hist *[256]int) int {
	var n, sum float64
	for v, c := range hist {
		n += float64(c)
		sum += float64(v) * float64(c)
	}
	var n0, sum0, best float64
	t := 0
	for v := 0; v < 255; v++ {
		c := float64(hist[v])
		n0 += c
		sum0 += float64(v) * c
		n1 := n - n0
		if n0 == 0 || n1 == 0 {
			continue
		}
		d := sum0/n0 - (sum-sum0)/n1
		if between := n0 * n1 * d * d; between > best {
			best, t = between, v
		}
	}
	return t
}

// Specks.
const (
	// partShare is the least mass, as a share of the largest component's,
	// of a part of the digit that is kept wherever it lies: a stroke the
	// pen broke off.
	partShare = 0.2
	// nearShare is how close, as a share of the larger side of the digit's
	// box so far, a smaller component must come to that box to be kept as
	// part of the digit.
	nearShare = 0.125
)

// Bounds on the work dropSpecks does, whatever the picture.
const (
	// maxLabels is the most provisional labels of components: an image of
	// noise has far more, a photograph of a digit far fewer.
	maxLabels = 1 << 18
	// maxPasses is the most passes over the components that gather the
	// digit's parts, each of which may widen its box.
	maxPasses = 4
)

// component is a connected set of ink pixels.
type component struct {
	n, strong      int     // pixels, and those of strong ink
	edge           int     // pixels with a 4-neighbour of paper
	mass           float64 // the sum of their levels
	x0, y0, x1, y1 int     // box
	keep           bool
}

func (c *component) gap(x0, y0, x1, y1 int) int {
	return max(0, x0-c.x1, c.x0-x1, y0-c.y1, c.y0-y1)
}

// inkComponents finds the ink of a w x h grey image, its pixels above
// cropFloor on the levelled scale, in 8-connected components: each pixel's
// component number, from 1 (0 is paper), and the components. ok is false
// when there are more components than ink would make (an image of noise).
func inkComponents(grey []byte, w, h int, lv *inkLevels) (labels []int32, comps []component, ok bool) {
	labels = make([]int32, len(grey))
	parent := []int32{0} // union-find over provisional labels; 0 is paper
	find := func(l int32) int32 {
		for parent[l] != l {
			parent[l] = parent[parent[l]]
			l = parent[l]
		}
		return l
	}
	union := func(a, b int32) int32 {
		a, b = find(a), find(b)
		if a < b {
			parent[b] = a
			return a
		}
		parent[a] = b
		return b
	}
	ink := func(v byte) bool { return lv.level[v] > cropFloor }
	for y := range h {
		for x := range w {
			i := y*w + x
			if !ink(grey[i]) {
				continue
			}
			var l int32
			link := func(j int) {
				if m := labels[j]; m != 0 {
					if l == 0 {
						l = find(m)
					} else {
						l = union(l, m)
					}
				}
			}
			if x > 0 {
				link(i - 1)
			}
			if y > 0 {
				if x > 0 {
					link(i - w - 1)
				}
				link(i - w)
				if x < w-1 {
					link(i - w + 1)
				}
			}
			if l == 0 {
				if len(parent) > maxLabels {
					return nil, nil, false
				}
				l = int32(len(parent))
				parent = append(parent, l)
			}
			labels[i] = l
		}
	}

	// Number the components 1.. and gather them.
	index := make([]int32, len(parent))
	for l := 1; l < len(parent); l++ {
		if r := find(int32(l)); r == int32(l) {
			comps = append(comps, component{x0: w, y0: h})
			index[l] = int32(len(comps))
		}
	}
	for y := range h {
		for x := range w {
			i := y*w + x
			if labels[i] == 0 {
				continue
			}
			k := index[find(labels[i])]
			labels[i] = k
			c := &comps[k-1]
			lvl := lv.level[grey[i]]
			c.n++
			if x == 0 || y == 0 || x == w-1 || y == h-1 || labels[i-1] == 0 || labels[i+1] == 0 || labels[i-w] == 0 || labels[i+w] == 0 {
				c.edge++
			}
			c.mass += lvl
			if lvl > lv.strong {
				c.strong++
			}
			c.x0, c.y0 = min(c.x0, x), min(c.y0, y)
			c.x1, c.y1 = max(c.x1, x+1), max(c.y1, y+1)
		}
	}
	return labels, comps, true
}

// dropSpecks finds the ink of a w x h grey image in components
// (inkComponents) and paints over with paper those that are not part of
// the digit. The digit is the component of the most ink; with it, wherever
// they lie, those of at least a fifth of its ink (a stroke the pen broke
// off); and those of strong ink that come near its box, within an eighth of
// its larger side, unless, on grainy paper, they are specks: smaller every
// way than the width of the digit's stroke. On clean paper, without grain,
// small marks near the digit and faint ink anywhere are kept, as they
// always were: MNIST's own digits have such wisps, and an MNIST digit must
// come back as it is. It returns whether it painted anything, and how many
// of the components it kept are marks of their own (see marks).
func dropSpecks(grey []byte, w, h int, lv *inkLevels) (dropped bool, parts int) {
	labels, comps, ok := inkComponents(grey, w, h, lv)
	if !ok {
		return false, 0 // noise, not ink: leave it to the levels
	}
	if len(comps) <= 1 {
		return false, len(comps)
	}
	main := 0
	for k := range comps {
		if comps[k].mass > comps[main].mass {
			main = k
		}
	}
	m := &comps[main]
	m.keep = true
	x0, y0, x1, y1 := m.x0, m.y0, m.x1, m.y1
	// A stroke of width s and length l has s*l pixels, 2*l of them at
	// its edges.
	stroke := 2 * float64(m.n) / float64(max(1, m.edge))
	for pass, changed := 0, true; changed && pass < maxPasses; pass++ {
		changed = false
		margin := int(math.Round(nearShare * float64(max(x1-x0, y1-y0))))
		for k := range comps {
			c := &comps[k]
			if c.keep {
				continue
			}
			speck := !lv.clean && float64(max(c.x1-c.x0, c.y1-c.y0)) < stroke
			if c.mass >= partShare*m.mass || c.strong > 0 && !speck && c.gap(x0, y0, x1, y1) <= margin {
				c.keep, changed = true, true
				x0, y0 = min(x0, c.x0), min(y0, c.y0)
				x1, y1 = max(x1, c.x1), max(y1, c.y1)
			}
		}
	}
	if lv.clean {
		for k := range comps {
			if comps[k].strong == 0 {
				comps[k].keep = true
			}
		}
	}
	for i, k := range labels {
		if k != 0 && !comps[k-1].keep {
			grey[i] = lv.paper
			dropped = true
		}
	}
	return dropped, marks(comps)
}

// Marks: the parts of the ink that stand on their own, as the two digits
// of "42" do, rather than a stroke the pen broke off (the top bar of a 5
// sits over its body).
const (
	// markShare is the least mass, as a share of the largest component's,
	// of a component that counts as a mark of its own.
	markShare = 0.4
	// markOverlap is the most that a mark's columns may overlap the
	// largest component's, as a share of the narrower of the two.
	markOverlap = 0.5
)

// marks counts the kept components that are marks of their own: the
// largest, and those of comparable ink (markShare of its mass or more)
// that stand beside it rather than over or under it (their columns
// overlap by markOverlap of the narrower or less).
func marks(comps []component) int {
	main := -1
	for k := range comps {
		if comps[k].keep && (main < 0 || comps[k].mass > comps[main].mass) {
			main = k
		}
	}
	if main < 0 {
		return 0
	}
	m := &comps[main]
	n := 1
	for k := range comps {
		c := &comps[k]
		if k == main || !c.keep || c.mass < markShare*m.mass {
			continue
		}
		overlap := min(c.x1, m.x1) - max(c.x0, m.x0)
		if float64(overlap) <= markOverlap*float64(min(c.x1-c.x0, m.x1-m.x0)) {
			n++
		}
	}
	return n
}
