//go:build !amd64 || purego

package cpurate

func loops() []loop { return nil }

func addChain(n int) int { return n * 8 }
