package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lenetkit/lenetkit/internal/atomicfile"
)

// graceful is set while a command that stops cleanly on a signal (train,
// sweep) runs: the first SIGINT or SIGTERM is its to handle.
var graceful atomic.Bool

// exiting is taken by whichever of main (exit) and the abort on a signal
// ends the process first, and never given back: the other waits for the
// exit. The abort takes it before RemoveTemps, because removing a write's
// temporary file makes that write fail, and main, left free, could report
// the failure and exit 1 before the abort exits 130.
var exiting sync.Mutex

// exit ends the process with code, unless a signal's abort is under way:
// then that one exits, with 130. The command has returned, so its own
// writes have cleaned up after themselves; RemoveTemps is for one a
// goroutine might still have open, which os.Exit would leave behind.
func exit(code int) {
	exiting.Lock()
	atomicfile.RemoveTemps()
	os.Exit(code)
}

// handleSignals makes SIGINT and SIGTERM end lenetkit at once, with exit
// status 130 and no temporary file left behind, unless a command stops
// cleanly on the first one (stopContext); the second always aborts.
func handleSignals(stderr io.Writer) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for sig := range ch {
			if n++; n == 1 && graceful.Load() {
				continue
			}
			exiting.Lock()
			atomicfile.RemoveTemps()
			fmt.Fprintf(stderr, "lenetkit: %v: aborted; nothing half-written was left\n", sig)
			os.Exit(130)
		}
	}()
}

// stopContext is the context of a command that stops cleanly: the first
// SIGINT or SIGTERM ends it, saying so on status; a second one aborts at
// once (handleSignals).
func stopContext(parent context.Context, status io.Writer, what string) (context.Context, context.CancelFunc) {
	graceful.Store(true)
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			fmt.Fprintf(status, "\nlenetkit: stopping after this step, %s; interrupt again to abort at once\n", what)
			cancel()
		case <-ctx.Done():
		}
		signal.Stop(ch)
	}()
	return ctx, cancel
}
