package onnx

// Transitional: the protobuf-level readers below go through decodeAttrs
// until import.go, normalize.go and graph.go read the decoded Model.

func findAttr(n *NodeProto, name string) *AttributeProto {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func legacyAttrs(n *NodeProto) (Attrs, error) { return decodeAttrs(n) }

func intAttr(n *NodeProto, name string, def int64) (int64, error) {
	a, err := legacyAttrs(n)
	if err != nil {
		return 0, err
	}
	return a.Int(name, def)
}

func intsAttr(n *NodeProto, name string) ([]int64, error) {
	a, err := legacyAttrs(n)
	if err != nil {
		return nil, err
	}
	return a.Ints(name)
}

func floatAttr(n *NodeProto, name string, def float32) (float32, error) {
	a, err := legacyAttrs(n)
	if err != nil {
		return 0, err
	}
	return a.Float(name, def)
}

func stringAttr(n *NodeProto, name, def string) (string, error) {
	a, err := legacyAttrs(n)
	if err != nil {
		return "", err
	}
	return a.Str(name, def)
}
