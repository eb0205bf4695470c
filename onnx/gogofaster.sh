#!/bin/sh
# protoc plugin for go generate (see gen.go): gogo/protobuf's
# protoc-gen-gogofaster at the version go.mod pins, compiled and run by the
# go command, so that nothing but protoc needs installing.
exec go run github.com/gogo/protobuf/protoc-gen-gogofaster "$@"
