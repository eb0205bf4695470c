// Package cpurate measures how many multiply-add instructions this CPU
// retires a cycle: the rates that bound the int8 and float kernels
// (internal/qgemm, internal/winograd, internal/kernel), so that a speed
// figure can be read against what the CPU can do. A cycle is one add of a
// chain of dependent adds, which takes one cycle on every x86 core.
//
// Each rate is the best of several timed runs: on a shared machine the
// others' work only ever slows a run down.
package cpurate

import (
	"errors"
	"time"
)

// ErrUnsupported is Measure's error where the loops have no assembly
// (other architectures, or the purego build).
var ErrUnsupported = errors.New("cpurate: no measuring loops for this CPU or build")

// Rate is one instruction's throughput.
type Rate struct {
	// Name is the instruction, with its register width: "VPMADDWD ymm".
	Name string
	// PerCycle is how many of it the CPU retires a cycle, eight
	// independent at a time.
	PerCycle float64
	// MACs is the multiply-adds one instruction does: 16 for VPMADDWD on
	// ymm (16 int16 products, summed in pairs), 8 for VFMADD231PS on ymm.
	MACs int
}

// MACsPerCycle is the multiply-adds a cycle at this rate.
func (r Rate) MACsPerCycle() float64 { return r.PerCycle * float64(r.MACs) }

// A loop runs n iterations of eight of its instruction (or pair).
type loop struct {
	name string
	macs int
	run  func(n int) bool // runs n iterations; reports whether the result is right
	has  bool             // whether the CPU has its instructions
}

// Measure times each loop the CPU can run, rounds times for about d in
// all, and returns their best rates.
func Measure(d time.Duration, rounds int) ([]Rate, error) {
	ls := loops()
	if len(ls) == 0 {
		return nil, ErrUnsupported
	}
	rounds = max(1, rounds)
	per := d / time.Duration(rounds*(len(ls)+1))
	cycle := best(func() { addChain(iterations) }, per, rounds) // ns an add
	var rs []Rate
	for _, l := range ls {
		if !l.has {
			continue
		}
		if !l.run(3) {
			return nil, errors.New("cpurate: the " + l.name + " loop computed a wrong result")
		}
		ns := best(func() { l.run(iterations) }, per, rounds)
		rs = append(rs, Rate{Name: l.name, PerCycle: cycle / ns, MACs: l.macs})
	}
	return rs, nil
}

// iterations is a timed call's: long enough that the call costs
// nothing beside it, short enough to fit many calls in a round.
const iterations = 1 << 16

// best runs f, iterations of 8 instructions, for about d a round, and
// returns the fewest nanoseconds an instruction took in any round.
func best(f func(), d time.Duration, rounds int) float64 {
	ns := 0.0
	for r := range rounds {
		calls, start := 0, time.Now()
		for calls == 0 || time.Since(start) < d {
			f()
			calls++
		}
		each := float64(time.Since(start).Nanoseconds()) / float64(calls*iterations*8)
		if r == 0 || each < ns {
			ns = each
		}
	}
	return ns
}
