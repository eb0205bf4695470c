package serve

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/lenetkit/lenetkit/serve/oippb"
)

// newGRPCServer is the gRPC server of the protocol's service, with the
// REST server's limits: --max-body bounds a message, --idle-timeout an
// idle connection, --read-header-timeout a connection's handshake and
// --write-timeout a call.
func (s *Server) newGRPCServer() *grpc.Server {
	maxMsg := int(min(s.opt.MaxBody, math.MaxInt32))
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.ConnectionTimeout(s.opt.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.opt.IdleTimeout}),
		grpc.ChainUnaryInterceptor(s.grpcUnary),
		grpc.StatsHandler(grpcStats{s}),
	}
	if s.opt.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opt.TLS)))
	}
	gs := grpc.NewServer(opts...)
	oippb.RegisterGRPCInferenceServiceServer(gs, grpcService{s: s})
	// Server reflection, so that grpcurl and other tools can list and
	// call the service without its .proto.
	reflection.Register(gs)
	return gs
}

// grpcUnary bounds a call's time by --write-timeout, answers a method's
// panic with Internal rather than the end of the process, and makes the
// REST routes' refusals the gRPC statuses of the same meaning.
func (s *Server) grpcUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.WriteTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("gRPC method panicked", "method", info.FullMethod, "panic", p)
			resp, err = nil, status.Error(codes.Internal, "the server failed to answer; its log says why")
		}
	}()
	resp, err = h(ctx, req)
	if err != nil {
		err = s.grpcError(ctx, info.FullMethod, err)
	}
	return resp, err
}

// grpcCodes are the gRPC codes of the REST routes' refusals.
var grpcCodes = map[int]codes.Code{
	http.StatusBadRequest:            codes.InvalidArgument,
	http.StatusNotFound:              codes.NotFound,
	http.StatusRequestTimeout:        codes.DeadlineExceeded,
	http.StatusRequestEntityTooLarge: codes.ResourceExhausted,
	http.StatusServiceUnavailable:    codes.Unavailable,
}

// grpcError is err as a gRPC status: a refusal keeps its words under the
// code of the same meaning, and one that says to retry later sets the
// grpc-retry-pushback-ms trailer, which gRPC's retry policy heeds. Any
// other error is the server's fault, Internal, and its words go to the
// log, not to the client.
func (s *Server) grpcError(ctx context.Context, method string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Error("request failed", "method", method, "err", err)
		return status.Error(codes.Internal, "the server failed to answer; its log says why")
	}
	code, ok := grpcCodes[he.status]
	if !ok {
		code = codes.Unknown
	}
	if he.retryAfter > 0 {
		grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", strconv.Itoa(he.retryAfter*1000)))
	}
	return status.Error(code, he.msg)
}

// grpcStats counts and times every call, those gRPC refuses before a
// method runs (a message over --max-body, an unknown method) among them,
// in the REST routes' metrics: route "grpc METHOD", code the status's
// name. It writes the access log's record of each call.
type grpcStats struct{ s *Server }

type grpcMethodKey struct{}

// grpcRoutes are the metrics' routes of the service's methods: any other
// method is "grpc none", so that a client's names cannot grow the metrics.
var grpcRoutes = func() map[string]string {
	m := map[string]string{}
	for _, md := range oippb.GRPCInferenceService_ServiceDesc.Methods {
		m["/"+oippb.GRPCInferenceService_ServiceDesc.ServiceName+"/"+md.MethodName] = "grpc " + md.MethodName
	}
	return m
}()

func (g grpcStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, grpcMethodKey{}, info.FullMethodName)
}

func (g grpcStats) HandleRPC(ctx context.Context, st stats.RPCStats) {
	end, ok := st.(*stats.End)
	if !ok {
		return
	}
	method, _ := ctx.Value(grpcMethodKey{}).(string)
	route, ok := grpcRoutes[method]
	if !ok {
		route = "grpc none"
	}
	code := status.Code(end.Error)
	d := end.EndTime.Sub(end.BeginTime)
	g.s.met.requests.WithLabelValues(route, code.String()).Inc()
	g.s.met.latency.WithLabelValues(route).Observe(d.Seconds())
	if bg := context.Background(); g.s.log.Enabled(bg, slog.LevelInfo) {
		remote := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			remote = p.Addr.String()
		}
		g.s.log.LogAttrs(bg, slog.LevelInfo, "request", slog.String("method", "gRPC"), slog.String("path", method),
			slog.String("code", code.String()), slog.Duration("duration", d), slog.String("remote", remote))
	}
}

func (g grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (g grpcStats) HandleConn(context.Context, stats.ConnStats)                       {}

// grpcLimitListener keeps at most max gRPC connections open, as
// limitListener does HTTP's; one more is closed at once.
func grpcLimitListener(l net.Listener, max int, refused prometheus.Counter) net.Listener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max), refused: refused}
}
