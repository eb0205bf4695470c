package backend

// The ends of a plan whose graph takes or gives integer tensors: callers
// hand Run and Logits float32 numbers and get float32 numbers back, for
// every tensor; the plan converts at each end (ops_quant.go has the
// representation in between).

// typedInputs converts, in a plan of whole tensors, each graph input
// declared uint8 or int8 and fed at run time: Run copies the caller's
// numbers into its buffer, and a step writes them, rounded and
// saturated, as the type's bytes into the value the graph reads. Other
// integer inputs (int64 shapes and indices) stay numbers, as before.
func (c *compiler) typedInputs() error {
	for _, in := range c.g.Inputs {
		v := c.vals[in.Name]
		if !isQuant8(in.DType) || v == nil || v.c != nil || v.dt != 0 {
			continue
		}
		y, err := c.typedRuntime(v.shape, in.DType)
		if err != nil {
			return err
		}
		n := numel(v.shape)
		if err := c.b.ops(n); err != nil {
			return err
		}
		c.steps = append(c.steps, convertStep{n: n, to: in.DType, in: v.buf, out: y.buf})
		c.vals[in.Name] = y
	}
	return nil
}

// numberOutputs makes every graph output of integer type float32
// numbers, as Run and Logits give every output: exact for 8-bit values,
// and for int32 ones up to 2^24 in magnitude.
func (c *compiler) numberOutputs() error {
	for _, o := range c.g.Outputs {
		v := c.vals[o.Name]
		if v == nil || v.c != nil || v.dt == 0 {
			continue
		}
		v, err := c.chw(v)
		if err != nil {
			return err
		}
		y, err := c.runtime(v.shape)
		if err != nil {
			return err
		}
		n := numel(v.shape)
		if err := c.b.ops(n); err != nil {
			return err
		}
		c.steps = append(c.steps, convertStep{n: n, from: v.dt, in: v.buf, out: y.buf})
		c.vals[o.Name] = y
	}
	return nil
}
