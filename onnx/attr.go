package onnx

import "fmt"

func attrInt(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INT, I: &v}
}

func attrInts(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_INTS, Ints: v}
}

func attrFloat(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: name, Type: AttributeProto_FLOAT, F: &v}
}

func findAttr(n *NodeProto, name string) *AttributeProto {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// intAttr returns the INT attribute name of n, or def when n lacks it.
func intAttr(n *NodeProto, name string, def int64) (int64, error) {
	a := findAttr(n, name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttributeProto_INT || a.I == nil {
		return 0, fmt.Errorf("attribute %s is %s, expected INT", name, a.Type)
	}
	return *a.I, nil
}

// intsAttr returns the INTS attribute name of n, or nil when n lacks it.
func intsAttr(n *NodeProto, name string) ([]int64, error) {
	a := findAttr(n, name)
	if a == nil {
		return nil, nil
	}
	if a.Type != AttributeProto_INTS {
		return nil, fmt.Errorf("attribute %s is %s, expected INTS", name, a.Type)
	}
	return a.Ints, nil
}

// floatAttr returns the FLOAT attribute name of n, or def when n lacks it.
func floatAttr(n *NodeProto, name string, def float32) (float32, error) {
	a := findAttr(n, name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttributeProto_FLOAT || a.F == nil {
		return 0, fmt.Errorf("attribute %s is %s, expected FLOAT", name, a.Type)
	}
	return *a.F, nil
}

// stringAttr returns the STRING attribute name of n, or def when n lacks it.
func stringAttr(n *NodeProto, name, def string) (string, error) {
	a := findAttr(n, name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttributeProto_STRING {
		return "", fmt.Errorf("attribute %s is %s, expected STRING", name, a.Type)
	}
	return string(a.S), nil
}
