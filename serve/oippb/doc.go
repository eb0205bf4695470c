// Package oippb is the Open Inference Protocol's gRPC service (KServe's
// v2), generated from grpc_predict_v2.proto: the messages and the
// GRPCInferenceService client and server that package serve implements.
//
// The generated files are committed, so that building lenetkit needs no
// protoc. To regenerate them, with protoc, protoc-gen-go (the version of
// google.golang.org/protobuf in go.mod) and protoc-gen-go-grpc on PATH:
//
//	go generate ./serve/oippb
//
// The second step rewrites a comment of protoc-gen-go-grpc's that names a
// documentation site by its address: the project names no package site.
package oippb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grpc_predict_v2.proto
//go:generate sed -i "s|please refer to https://[^ ]*ClientConn.NewStream.|see the documentation of grpc.ClientConn.NewStream.|" grpc_predict_v2_grpc.pb.go
