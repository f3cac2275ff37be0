package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// stopper is the one way to stop, whatever the reason: the first reason wins and decides the exit status (130 for
// SIGINT, 143 for SIGTERM and for a parent that went away).
type stopper struct {
	cancel context.CancelFunc
	log    *slog.Logger
	mu     sync.Mutex
	sig    syscall.Signal
	why    string
}

// watch returns a context cancelled on SIGINT/SIGTERM and, when stdin is not nil, at its end (the parent died).
func watch(log *slog.Logger, stdin io.Reader) (context.Context, *stopper) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stopper{cancel: cancel, log: log}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range sigc {
			s.stop(sig.(syscall.Signal), "signal "+sig.String()+" received")
		}
	}()
	if stdin != nil {
		go func() {
			// Nothing more is expected on stdin; its end is the parent's death.
			_, err := io.Copy(io.Discard, stdin)
			why := "parent went away (stdin closed)"
			if err != nil {
				why = "parent went away (stdin: " + err.Error() + ")"
			}
			s.stop(syscall.SIGTERM, why)
		}()
	}
	return ctx, s
}

func (s *stopper) stop(sig syscall.Signal, why string) {
	s.mu.Lock()
	if s.why == "" {
		s.sig, s.why = sig, why
		s.log.Warn("stopping: nothing will be committed", "reason", why)
	}
	s.mu.Unlock()
	s.cancel()
}

// reason is the signal and why of the first stop (0, "" when none came).
func (s *stopper) reason() (syscall.Signal, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig, s.why
}
