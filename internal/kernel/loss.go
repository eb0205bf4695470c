package kernel

import "math"

// CrossEntropy returns the mean over n rows of -log softmax(z)[label], as
// torch.nn.CrossEntropyLoss does, and when dz is not nil writes its gradient
// (softmax - onehot) / n.
func CrossEntropy(dz, z []float32, labels []int64, n, classes int) float64 {
	var total float64
	for i := 0; i < n; i++ {
		row := z[i*classes : (i+1)*classes]
		lse := LogSumExp(row)
		total += lse - float64(row[labels[i]])
		if dz != nil {
			d := dz[i*classes : (i+1)*classes]
			for c, v := range row {
				// The probability of a class far behind underflows float32:
				// flushed, not stored subnormal (subnormal.go).
				d[c] = Flush(float32(math.Exp(float64(v)-lse) / float64(n)))
			}
			d[labels[i]] -= float32(1 / float64(n))
		}
	}
	return total / float64(n)
}

// LogSumExp is log(sum(exp(row))), computed stably.
func LogSumExp(row []float32) float64 {
	mx := row[0]
	for _, v := range row[1:] {
		if v > mx {
			mx = v
		}
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v - mx))
	}
	return float64(mx) + math.Log(s)
}
