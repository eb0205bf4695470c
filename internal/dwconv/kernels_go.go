package dwconv

// tapsGo is Taps in Go: three taps a pass, so that y is read and written a
// third as often as one tap a pass would.
func tapsGo(y, p, k []float32, off []int) {
	n := len(y)
	t := 0
	if len(off)%3 != 0 {
		k0, s0 := k[0], p[off[0]:][:n]
		for i := range y {
			y[i] = k0 * s0[i]
		}
		t = 1
		if len(off)%3 == 2 {
			k1, s1 := k[1], p[off[1]:][:n]
			for i := range y {
				y[i] += k1 * s1[i]
			}
			t = 2
		}
	} else {
		clear(y)
	}
	for ; t < len(off); t += 3 {
		k0, k1, k2 := k[t], k[t+1], k[t+2]
		s0, s1, s2 := p[off[t]:][:n], p[off[t+1]:][:n], p[off[t+2]:][:n]
		for i := range y {
			y[i] += k0*s0[i] + k1*s1[i] + k2*s2[i]
		}
	}
}

// dotsGo is Dots in Go, four sums a tap so that the additions overlap.
func dotsGo(dk, g, p []float32, off []int) {
	n := len(g)
	for t, o := range off {
		s := p[o:][:n]
		var a0, a1, a2, a3 float32
		i := 0
		for ; i+4 <= n; i += 4 {
			a0 += g[i] * s[i]
			a1 += g[i+1] * s[i+1]
			a2 += g[i+2] * s[i+2]
			a3 += g[i+3] * s[i+3]
		}
		for ; i < n; i++ {
			a0 += g[i] * s[i]
		}
		dk[t] += (a0 + a1) + (a2 + a3)
	}
}
