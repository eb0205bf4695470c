// Package convert moves state dicts between file formats. Every format is
// read into and written from the same in-memory lenet.StateDict, so a model
// crosses formats without passing through anything else.
//
// PyTorch's .pth comes first: WritePTH and SavePTH write what
// torch.save(model.state_dict(), path) writes; ReadPTH and ReadPTHStateDict
// read what torch.save wrote, in any of the formats PyTorch 1.6 through 2.x
// produce, without executing anything the file asks for. ONNX and
// safetensors come later through the same StateDict.
//
// Every reader is bounded by the limits that modelfile's limits.go states:
// a hostile file (an integer of megabytes, a memo or DUP flood, a storage
// that inflates to gigabytes, overlapping safetensors offsets) ends in a
// one-line error naming the file, in milliseconds and megabytes. The
// readers here return values as stored, NaN included; modelfile.Read
// refuses non-finite weights unless its options allow them.
//
// Reading converts every floating-point tensor to float32 (float64 rounds to
// nearest, float16 and bfloat16 widen exactly) and every integer or boolean
// tensor to int64, because a lenet.StateDict holds only those two types.
package convert
