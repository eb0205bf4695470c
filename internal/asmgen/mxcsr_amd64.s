//go:build amd64 && !purego

#include "textflag.h"

// func MXCSR() uint32
TEXT ·MXCSR(SB), NOSPLIT, $0-4
	STMXCSR ret+0(FP)
	RET
