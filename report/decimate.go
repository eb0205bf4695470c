package report

import "gonum.org/v1/plot/plotter"

// maxLinePoints is how many points a line keeps for drawing. A chart is
// about a thousand pixels wide, so a long run's million steps would draw
// a thousand segments into every pixel column: the data stays whole in
// metrics.jsonl and in the running mean, only the drawing is thinned.
const maxLinePoints = 1200

// decimate thins pts, ordered by X, to at most maxLinePoints points: the
// lowest and the highest point of each of maxLinePoints/2 runs of
// consecutive points, in their order, so that a spike the eye would see
// at full resolution is still drawn.
func decimate(pts plotter.XYs) plotter.XYs {
	if len(pts) <= maxLinePoints {
		return pts
	}
	buckets := maxLinePoints / 2
	out := make(plotter.XYs, 0, maxLinePoints)
	for b := range buckets {
		lo, hi := b*len(pts)/buckets, (b+1)*len(pts)/buckets
		minI, maxI := lo, lo
		for i := lo + 1; i < hi; i++ {
			if pts[i].Y < pts[minI].Y {
				minI = i
			}
			if pts[i].Y > pts[maxI].Y {
				maxI = i
			}
		}
		first, second := min(minI, maxI), max(minI, maxI)
		out = append(out, pts[first])
		if second != first {
			out = append(out, pts[second])
		}
	}
	return out
}
