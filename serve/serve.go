package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"google.golang.org/grpc"
)

// Serve answers HTTP requests on l, with the Options' timeouts and
// connection limit, until ctx is done; then it drains: it stops accepting
// connections, answers every request already accepted, closes the
// batchers (Close) and returns nil. Requests still unanswered after
// DrainTimeout are cut off, and Serve says how many connections were.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeGRPC(ctx, l, nil)
}

// ServeGRPC is Serve with the protocol's gRPC service on g as well (nil:
// none; l may be nil for gRPC alone). Both share the models, batchers,
// limits and metrics, and drain together: the batchers close once both
// have answered every request they accepted.
func (s *Server) ServeGRPC(ctx context.Context, l, g net.Listener) error {
	if l == nil && g == nil {
		return errors.New("serve: no listener to serve on")
	}
	served, servers := make(chan error, 2), 0 // servers: those that send to served
	var srv *http.Server
	if l != nil {
		servers++
		srv = &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
			ReadTimeout:       s.opt.ReadTimeout,
			WriteTimeout:      s.opt.WriteTimeout,
			IdleTimeout:       s.opt.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
		ll := newLimitListener(l, s.opt.MaxConns, s.met.connsShed)
		if s.opt.TLS != nil {
			// http.Server does the TLS (HTTP/2 too, and its 400 to a
			// client that speaks plain HTTP); the listener refuses a
			// connection over the limit over TLS, in HTTP/1.1.
			srv.TLSConfig = s.opt.TLS.Clone()
			ll.tls = s.opt.TLS.Clone()
			ll.tls.NextProtos = []string{"http/1.1"}
		}
		go func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(ll, "", "")
			} else {
				err = srv.Serve(ll)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			served <- err
		}()
	}
	var gs *grpc.Server
	if g != nil {
		servers++
		gs = s.newGRPCServer()
		go func() { served <- gs.Serve(grpcLimitListener(g, s.opt.MaxConns, s.met.connsShed)) }()
	}
	select {
	case err := <-served: // one stopped of itself: stop the other too
		if srv != nil {
			srv.Close()
		}
		if gs != nil {
			gs.Stop()
		}
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.closing.Store(true) // not ready: a balancer sends no more
	s.log.Info("draining: no new connections; answering the requests under way")
	err := s.drain(srv, gs)
	s.Close()
	for range servers {
		if serr := <-served; serr != nil && err == nil {
			err = serr
		}
	}
	if err == nil {
		s.log.Info("drained: every request was answered")
	}
	return err
}

// drain stops both servers gracefully, at once, and cuts off what is still
// under way after DrainTimeout.
func (s *Server) drain(srv *http.Server, gs *grpc.Server) error {
	dctx, cancel := context.WithTimeout(context.Background(), s.opt.DrainTimeout)
	defer cancel()
	var grpcDone chan struct{}
	if gs != nil {
		grpcDone = make(chan struct{})
		go func() { gs.GracefulStop(); close(grpcDone) }()
	}
	var err error
	if srv != nil {
		if err = srv.Shutdown(dctx); errors.Is(err, context.DeadlineExceeded) {
			srv.Close()
			err = fmt.Errorf("serve: requests still under way after %v were cut off", s.opt.DrainTimeout)
		}
	}
	if gs != nil {
		select {
		case <-grpcDone:
		case <-dctx.Done():
			gs.Stop() // GracefulStop returns once Stop has closed every connection
			<-grpcDone
			err = fmt.Errorf("serve: requests still under way after %v were cut off", s.opt.DrainTimeout)
		}
	}
	return err
}
