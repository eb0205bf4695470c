package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lenetkit/lenetkit/mnist"
)

// CPUModel is the CPU's model name as the kernel reports it (lscpu's
// "Model name", /proc/cpuinfo's "model name"), or the architecture where
// it does not say.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			key, value, ok := strings.Cut(s.Text(), ":")
			if ok && strings.TrimSpace(key) == "model name" {
				if v := strings.TrimSpace(value); v != "" {
					return v
				}
			}
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}

// LoadAverage is the system's load average over 1, 5 and 15 minutes
// (/proc/loadavg): how many other processes competed for the CPUs while
// figures were measured. ok is false where the system does not say.
func LoadAverage() (avg [3]float64, ok bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return avg, false
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return avg, false
	}
	for i := range avg {
		if avg[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
			return avg, false
		}
	}
	return avg, true
}

// FormatLoad writes a load average as uptime does, "1.20, 0.98, 0.75".
func FormatLoad(avg [3]float64) string {
	return fmt.Sprintf("%.2f, %.2f, %.2f", avg[0], avg[1], avg[2])
}

// Interleaved times classifiers cs at batch in turn, rounds times, each
// time for about d, and returns each one's best images per second: on a
// machine others load, the rounds take turns so that a burst of someone
// else's work costs every classifier alike, and the best round is the
// one least disturbed.
func Interleaved(cs []mnist.Classifier, batch int, d time.Duration, rounds int) ([]float64, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("bench: %d rounds", rounds)
	}
	best := make([]float64, len(cs))
	for range rounds {
		for i, c := range cs {
			ips, err := Inference(c, batch, d)
			if err != nil {
				return nil, err
			}
			best[i] = max(best[i], ips)
		}
	}
	return best, nil
}
