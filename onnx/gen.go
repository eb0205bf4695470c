package onnx

// onnx.pb.go is generated from onnx.proto by protoc (Debian's
// protobuf-compiler) with gogo/protobuf's protoc-gen-gogofaster, which
// gogofaster.sh runs from the module cache.
//go:generate protoc --plugin=protoc-gen-gogofaster=gogofaster.sh --gogofaster_out=paths=source_relative:. onnx.proto
