package serve_test

import (
	"slices"
	"testing"

	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/lenetkit/lenetkit/serve"
)

// TestGRPCReflection: the server answers gRPC's server reflection, as
// grpcurl asks it without a .proto: it lists the protocol's service, and
// the file that defines it has the service's six methods.
func TestGRPCReflection(t *testing.T) {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: trainedPTH}}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, conn, _ := grpcConnOn(t, s)
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(grpcCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := r.GetErrorResponse(); e != nil {
			t.Fatalf("%v: %s", req, e.GetErrorMessage())
		}
		return r
	}
	const service = "inference.GRPCInferenceService"
	var names []string
	for _, sv := range ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		names = append(names, sv.GetName())
	}
	if !slices.Contains(names, service) {
		t.Fatalf("services %q, want %s among them", names, service)
	}
	files := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}}).
		GetFileDescriptorResponse().GetFileDescriptorProto()
	var methods []string
	for _, b := range files {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			t.Fatal(err)
		}
		for _, sv := range fd.GetService() {
			if fd.GetPackage()+"."+sv.GetName() != service {
				continue
			}
			for _, m := range sv.GetMethod() {
				methods = append(methods, m.GetName())
			}
		}
	}
	slices.Sort(methods)
	want := []string{"ModelInfer", "ModelMetadata", "ModelReady", "ServerLive", "ServerMetadata", "ServerReady"}
	if !slices.Equal(methods, want) {
		t.Errorf("the service's methods by reflection: %q, want %q", methods, want)
	}
}
