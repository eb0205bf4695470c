package train

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lenetkit/lenetkit/internal/gop"
	"github.com/lenetkit/lenetkit/internal/kernel"
	"github.com/lenetkit/lenetkit/lenet"
)

// Net is the seed's LeNet as a Gorgonia expression graph with its symbolic
// gradients, compiled once into a tape machine and run once per step.
// Parameters live in the state dict given to NewNet: the graph reads them
// in place, the optimiser updates them in place, and the BatchNorm ops
// update the running statistics in place.
type Net struct {
	g      *G.ExprGraph
	vm     G.VM
	batch  int
	x      []float32
	ce     *gop.CrossEntropy
	logits *linearOp
	drop   *dropoutOp
	eval   bool // PyTorch's model.eval(): BatchNorm frozen, dropout off
	sd     lenet.StateDict
	params []*lenet.Tensor // trainable, in state-dict order
	grads  []*G.Node       // aligned with params
	rng    *rand.PCG       // dropout's masks; its state goes into checkpoints
}

// DropoutMode says what Dropout1d after the first Linear layer zeroes.
type DropoutMode string

const (
	// DropoutRow zeroes a sample's whole 64-vector: what nn.Dropout1d does
	// to an (N, 64) tensor, and what trained the seed's model.
	DropoutRow DropoutMode = "row"
	// DropoutElement zeroes single activations, as the seed's prose says.
	DropoutElement DropoutMode = "element"
)

// NewNet builds the training graph for batches of the given size. sd must
// pass lenet.Check; it is used, not copied, and its subnormal values are
// flushed to zero, as every step flushes those it makes (kernel.Flush).
func NewNet(sd lenet.StateDict, batch int, dropout float64, mode DropoutMode, seed uint64) (*Net, error) {
	if err := lenet.Check(sd); err != nil {
		return nil, err
	}
	for _, t := range sd {
		kernel.FlushAll(t.F32)
	}
	if dropout < 0 || dropout >= 1 {
		return nil, fmt.Errorf("train: dropout %g outside [0, 1)", dropout)
	}
	if mode != DropoutRow && mode != DropoutElement {
		return nil, fmt.Errorf("train: dropout mode %q is neither %q nor %q", mode, DropoutRow, DropoutElement)
	}
	if batch < 2 {
		return nil, fmt.Errorf("train: batch size %d: BatchNorm needs at least 2 samples", batch)
	}
	g := G.NewGraph()
	net := &Net{g: g, batch: batch, sd: sd, x: make([]float32, batch*lenet.InputSize*lenet.InputSize)}
	param := func(name string) *G.Node {
		t := sd.Lookup(name)
		v := tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.F32))
		node := G.NewTensor(g, tensor.Float32, len(t.Shape), G.WithShape(t.Shape...), G.WithName(name), G.WithValue(v))
		net.params = append(net.params, t)
		return node
	}
	var learnables G.Nodes

	s := lenet.InputSize
	xv := tensor.New(tensor.WithShape(batch, s, s, 1), tensor.WithBacking(net.x))
	h := G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, s, s, 1), G.WithName("input"), G.WithValue(xv))
	var err error
	for i, b := range lenet.Blocks {
		w, bias := param(b.Conv.Param("weight")), param(b.Conv.Param("bias"))
		gamma, beta := param(b.BatchNorm.Param("weight")), param(b.BatchNorm.Param("bias"))
		conv := kernel.Conv3x3{H: s, W: s, In: b.In, Out: b.Out}
		bn := kernel.BNPool{H: s, W: s, C: b.Out, K: b.Pool, Eps: lenet.BatchNormEps}
		runMean, runVar := sd.Lookup(b.BatchNorm.Param("running_mean")).F32, sd.Lookup(b.BatchNorm.Param("running_var")).F32
		tracked := &sd.Lookup(b.BatchNorm.Param("num_batches_tracked")).I64[0]
		if b.In == 1 && i == 0 {
			// The first block, one input channel: one op (convBNPoolOp).
			op := newConvBNPoolOp(b.Conv.Name, kernel.ConvBNPool{Conv: conv, BN: bn}, batch, runMean, runVar, tracked, &net.eval)
			if h, err = apply(op, h, w, bias, gamma, beta); err != nil {
				return nil, err
			}
		} else {
			if h, err = apply(newConvOp(b.Conv.Name, conv, batch, i > 0), h, w, bias); err != nil {
				return nil, err
			}
			if h, err = apply(newBNPoolOp(b.BatchNorm.Name, bn, batch, runMean, runVar, tracked, &net.eval), h, gamma, beta); err != nil {
				return nil, err
			}
		}
		learnables = append(learnables, w, bias, gamma, beta)
		s /= b.Pool
	}
	last := lenet.Blocks[len(lenet.Blocks)-1].Out
	if h, err = apply(newFlattenOp("flatten", batch, s, s, last, false), h); err != nil {
		return nil, err
	}
	// The head, layer by layer after Flatten.
	net.rng = rand.NewPCG(seed, 0xd809)
	rng := rand.New(net.rng)
	features := lenet.FlatSize
	head := false
	for _, l := range lenet.Layers {
		if !head {
			head = l.Kind == lenet.Flatten
			continue
		}
		switch l.Kind {
		case lenet.Linear:
			w, b := param(l.Param("weight")), param(l.Param("bias"))
			op := newLinearOp(l.Name, kernel.Linear{In: l.In, Out: l.Out}, batch)
			if h, err = apply(op, h, w, b); err != nil {
				return nil, err
			}
			learnables = append(learnables, w, b)
			net.logits, features = op, l.Out
		case lenet.Dropout1d:
			net.drop = &dropoutOp{op: newOp("dropout", []int{2}, batch, features), p: dropout, rows: mode == DropoutRow,
				n: batch, c: features, mask: make([]float32, batch*features), rand: rng.Float64, enabled: true}
			if h, err = apply(net.drop, h); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("train: %v in the head is not supported", l.Kind)
		}
	}
	net.ce = gop.NewCrossEntropy(batch, lenet.Classes)
	cost, err := apply(net.ce, h)
	if err != nil {
		return nil, err
	}
	if net.grads, err = G.Grad(cost, learnables...); err != nil {
		return nil, fmt.Errorf("train: differentiate: %w", err)
	}
	// learnables were appended block by block, params in state-dict order;
	// the two orders agree, which orderGrads checks.
	if err := net.orderGrads(learnables); err != nil {
		return nil, err
	}
	net.vm = G.NewTapeMachine(g)
	return net, nil
}

func (n *Net) orderGrads(learnables G.Nodes) error {
	if len(learnables) != len(n.params) {
		return fmt.Errorf("train: %d learnables for %d parameters", len(learnables), len(n.params))
	}
	for i, l := range learnables {
		if l.Name() != n.params[i].Name {
			return fmt.Errorf("train: learnable %s where %s was expected", l.Name(), n.params[i].Name)
		}
	}
	return nil
}

// Step runs the forward and backward pass on one batch: x holds batch
// images as [batch][32][32] floats, y their labels. It returns the mean
// cross-entropy; gradients are then in Grad, and BatchNorm's running
// statistics have moved.
func (n *Net) Step(x []float32, y []int64) (float64, error) {
	if len(x) != len(n.x) || len(y) != n.batch {
		return 0, fmt.Errorf("train: batch of %d images and %d labels, want %d", len(x)/(lenet.InputSize*lenet.InputSize), len(y), n.batch)
	}
	copy(n.x, x)
	copy(n.ce.Labels, y)
	defer n.vm.Reset()
	if err := n.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("train: run graph: %w", err)
	}
	return n.ce.Loss(), nil
}

// SetDropout switches dropout on or off (off: the identity).
func (n *Net) SetDropout(on bool) {
	if n.drop != nil {
		n.drop.enabled = on
	}
}

// SetEval is PyTorch's model.eval() (true) or model.train() (false) for the
// steps that follow: in eval mode BatchNorm normalises with its running
// statistics and stops updating them and num_batches_tracked, and dropout
// is off. The optimiser still updates every parameter, BatchNorm's weight
// and bias included: that is how the seed's notebook trained after its
// first validation.
func (n *Net) SetEval(eval bool) {
	n.eval = eval
	n.SetDropout(!eval)
}

// rngState and setRNGState save and restore dropout's random stream, so
// that a resumed run draws the masks an uninterrupted one would.
func (n *Net) rngState() ([]byte, error) { return n.rng.MarshalBinary() }

func (n *Net) setRNGState(b []byte) error {
	if err := n.rng.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("train: dropout's random state: %w", err)
	}
	return nil
}

// Params are the trainable tensors, in state-dict order.
func (n *Net) Params() []*lenet.Tensor { return n.params }

// Grad is the gradient of the last Step's loss with respect to Params()[i],
// in the parameter's own layout.
func (n *Net) Grad(i int) []float32 { return n.grads[i].Value().Data().([]float32) }

// Logits are the last Step's [batch][10] outputs.
func (n *Net) Logits() []float32 { return n.logits.OutData() }

// Close releases the tape machine.
func (n *Net) Close() error { return n.vm.Close() }
