package nn

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// secondOrder is the gradient of a gradient: cost1 = first(in), its
// gradients g with respect to in[firstWRT], then cost2 = second(in, cost1,
// g), all in float64.
type secondOrder struct {
	shapes   []tensor.Shape
	first    func(in []*gorgonia.Node) (*gorgonia.Node, error)
	firstWRT []int
	// second defaults to the sum of squares of every first gradient: a
	// gradient penalty.
	second func(in []*gorgonia.Node, cost1 *gorgonia.Node, g gorgonia.Nodes) (*gorgonia.Node, error)
	wrt    []int // the inputs cost2 is differentiated by
	// positive draws every input as 0.5+|N(0,1)|, for ops defined on x > 0.
	positive bool
}

func sumSquares(_ []*gorgonia.Node, _ *gorgonia.Node, g gorgonia.Nodes) (*gorgonia.Node, error) {
	var total *gorgonia.Node
	for _, gi := range g {
		sq, err := Binary(Mul, gi, gi)
		if err == nil {
			sq, err = Sum(sq)
		}
		if err == nil && total != nil {
			sq, err = Binary(Add, total, sq)
		}
		if err != nil {
			return nil, err
		}
		total = sq
	}
	return total, nil
}

// build returns the graph, its inputs, cost2 and the error of the second
// gorgonia.Grad (the first must succeed).
func (c secondOrder) build(t *testing.T) (*gorgonia.ExprGraph, []*gorgonia.Node, *gorgonia.Node, gorgonia.Nodes, error) {
	t.Helper()
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(3, 1))
	in := make([]*gorgonia.Node, len(c.shapes))
	for i, s := range c.shapes {
		v := randTensor(rng, tensor.Float64, s, 1)
		if c.positive {
			for j, x := range v.Data().([]float64) {
				v.Data().([]float64)[j] = 0.5 + math.Abs(x)
			}
		}
		in[i] = gorgonia.NewTensor(g, tensor.Float64, s.Dims(), gorgonia.WithShape(s...), gorgonia.WithName("in"+string(rune('0'+i))),
			gorgonia.WithValue(v))
	}
	cost1, err := c.first(in)
	if err != nil {
		t.Fatalf("building the first cost: %v", err)
	}
	var wrt1, wrt2 gorgonia.Nodes
	for _, i := range c.firstWRT {
		wrt1 = append(wrt1, in[i])
	}
	for _, i := range c.wrt {
		wrt2 = append(wrt2, in[i])
	}
	g1, err := gorgonia.Grad(cost1, wrt1...)
	if err != nil {
		t.Fatalf("first Grad: %v", err)
	}
	second := c.second
	if second == nil {
		second = sumSquares
	}
	cost2, err := second(in, cost1, g1)
	if err != nil {
		t.Fatalf("building the second cost: %v", err)
	}
	g2, err := gorgonia.Grad(cost2, wrt2...)
	return g, in, cost2, g2, err
}

// check asserts that the gradients of cost2 match central finite
// differences of cost2 (the TapeMachine runs the whole graph, the first
// gradients included, at every perturbed point).
func (c secondOrder) check(t *testing.T) {
	t.Helper()
	g, in, cost2, g2, err := c.build(t)
	if err != nil {
		t.Fatalf("second Grad: %v", err)
	}
	cost := func() float64 {
		m := gorgonia.NewTapeMachine(g)
		defer m.Close()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		return f64s(t, cost2.Value())[0]
	}
	cost()
	analytic := make([][]float64, len(g2))
	for k := range g2 {
		analytic[k] = append([]float64(nil), f64s(t, g2[k].Value())...)
	}
	for k, i := range c.wrt {
		x := in[i].Value().Data().([]float64)
		numeric := centralDiff(x, cost)
		assertClose(t, "second-order gradient of input "+string(rune('0'+i)), analytic[k], numeric, 1e-5)
	}
}

// The gradient of a gradient through ops whose backward graph is made of
// differentiable nn ops matches finite differences, also where the second
// pass goes through nodes the first one differentiated (which gorgonia
// alone would take as done, keeping their first-pass gradient).
func TestSecondOrderMatchesFiniteDifferences(t *testing.T) {
	linearSquares := func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		y, err := Linear(in[0], in[1], in[2])
		if err != nil {
			return nil, err
		}
		return sumSquares(nil, nil, gorgonia.Nodes{y})
	}
	cases := map[string]secondOrder{
		// ||d/dx sum(Linear(x)^2)||^2 by the weight and the bias: a
		// gradient penalty whose second pass runs back through y.
		"linear penalty": {shapes: []tensor.Shape{{3, 4}, {5, 4}, {5}}, first: linearSquares, firstWRT: []int{0}, wrt: []int{1, 2}},
		// cost + penalty by every input, the first pass by all of them.
		"linear cost plus penalty": {
			shapes: []tensor.Shape{{3, 4}, {5, 4}, {5}}, first: linearSquares, firstWRT: []int{0, 1, 2}, wrt: []int{0, 1, 2},
			second: func(in []*gorgonia.Node, cost1 *gorgonia.Node, g gorgonia.Nodes) (*gorgonia.Node, error) {
				p, err := sumSquares(in, cost1, g)
				if err != nil {
					return nil, err
				}
				return Binary(Add, cost1, p)
			},
		},
		// A strided convolution whose stride leaves the last input row
		// and column unread (7 = 2*3 + 1 with a 4x4 kernel and pad 1),
		// batch 2: the penalty of both first gradients by every input.
		"strided conv penalty": {
			shapes: []tensor.Shape{{2, 2, 7, 7}, {3, 2, 4, 4}, {2, 3, 3, 3}},
			first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				y, err := Conv2d(in[0], in[1], nil, 2, 1)
				if err == nil {
					y, err = Binary(Mul, y, in[2])
				}
				return sumOr(y, err)
			},
			firstWRT: []int{0, 1}, wrt: []int{0, 1, 2},
		},
		// A DCGAN critic's ops in a row (strided convolution with bias,
		// LeakyReLU, reshape, linear): the squared norm of the score's
		// gradient by the image, by every weight.
		"conv critic penalty": {
			shapes: []tensor.Shape{{2, 1, 6, 6}, {3, 1, 4, 4}, {3}, {1, 27}},
			first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				h, err := Conv2d(in[0], in[1], in[2], 2, 1)
				if err == nil {
					h, err = Activate(h, LeakyReLU, 0.2)
				}
				if err == nil {
					h, err = Reshape(h, tensor.Shape{2, 27})
				}
				if err == nil {
					h, err = Linear(h, in[3], nil)
				}
				return sumOr(h, err)
			},
			firstWRT: []int{0}, wrt: []int{1, 2, 3},
		},
		// MatMul (both transposes), Scale, broadcasting Sub and Mul,
		// Reshape, Concat and Mean.
		"matmul, arithmetic, reshape, concat": {
			shapes: []tensor.Shape{{2, 3, 4}, {2, 5, 4}, {1, 3, 1}},
			first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				y, err := MatMul(in[0], in[1], false, true) // [2,3,5]
				if err != nil {
					return nil, err
				}
				if y, err = Binary(Sub, y, in[2]); err != nil {
					return nil, err
				}
				z, err := MatMul(y, in[0], true, false) // [2,5,4]
				if err != nil {
					return nil, err
				}
				if z, err = Scale(z, 0.5); err != nil {
					return nil, err
				}
				a, err := Reshape(z, tensor.Shape{2, 5, 2, 2})
				if err != nil {
					return nil, err
				}
				b, err := Reshape(in[1], tensor.Shape{2, 5, 2, 2})
				if err != nil {
					return nil, err
				}
				cat, err := Concat(a, b)
				if err != nil {
					return nil, err
				}
				if cat, err = Binary(Mul, cat, cat); err != nil {
					return nil, err
				}
				return Mean(cat)
			},
			firstWRT: []int{0, 1}, wrt: []int{0, 1, 2},
		},
	}
	for name, c := range cases {
		t.Run(name, c.check)
	}
}

// backwardOpCases has, for every backward op type (named as in the source),
// a second-order graph whose second pass reaches that op first.
var backwardOpCases = map[string]struct {
	secondOrder
	defined bool // whether the op has its own derivative
}{
	// WGAN-GP's penalty: the gradient of a LeakyReLU critic by its input,
	// differentiated by the critic's weights.
	"activationGrad": {defined: true, secondOrder: secondOrder{shapes: []tensor.Shape{{3, 4}, {5, 4}, {1, 5}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			y, err := Linear(in[0], in[1], nil)
			if err == nil {
				y, err = Activate(y, LeakyReLU, 0.2)
			}
			if err == nil {
				y, err = Linear(y, in[2], nil)
			}
			return sumOr(y, err)
		}, firstWRT: []int{0}, wrt: []int{1, 2}}},
	// The first cost is itself a gradient penalty, so the second pass runs
	// back through the activationGrad2 of the first's derivative.
	"activationGrad2": {secondOrder: secondOrder{shapes: []tensor.Shape{{3, 4}, {3, 4}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			y, err := Activate(in[0], SiLU, 0)
			if err == nil {
				y, err = Binary(Mul, y, in[1])
			}
			if y, err = sumOr(y, err); err != nil {
				return nil, err
			}
			g, err := gorgonia.Grad(y, in[0])
			if err != nil {
				return nil, err
			}
			return sumSquares(nil, nil, g)
		}, firstWRT: []int{0}, wrt: []int{0}}},
	"batchNormGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{3, 2, 2, 2}, {2}, {2}, {3, 2, 2, 2}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			y, err := BatchNorm(in[0], in[1], in[2], 1e-5)
			if err == nil {
				y, err = Binary(Mul, y, in[3])
			}
			return sumOr(y, err)
		}, firstWRT: []int{0}, wrt: []int{1}}},
	// By the weight and by dy (the incoming c), for both backward ops.
	"conv2dInputGrad":  {defined: true, secondOrder: secondOrder{shapes: convShapes, first: sumConv, firstWRT: []int{0}, wrt: []int{1, 2}}},
	"conv2dWeightGrad": {defined: true, secondOrder: secondOrder{shapes: convShapes, first: sumConv, firstWRT: []int{1}, wrt: []int{0, 2}}},
	"groupNormGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{2, 4, 2, 2}, {4}, {4}, {2, 4, 2, 2}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			y, err := GroupNorm(in[0], in[1], in[2], 2, 1e-5, Identity)
			if err == nil {
				y, err = Binary(Mul, y, in[3])
			}
			return sumOr(y, err)
		}, firstWRT: []int{0}, wrt: []int{1}}},
	// A second derivative of the discretised logistic is not defined.
	"discLogisticGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{2, 3}, {2, 3}, {2, 3}},
		first:    func(in []*gorgonia.Node) (*gorgonia.Node, error) { return sumOr(DiscLogisticNLL(in[0], in[1], in[2])) },
		firstWRT: []int{1}, wrt: []int{1}}},
	// A classifier's loss is differentiated once.
	"softmaxCEGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{3, 4}, {3, 4}},
		first:    func(in []*gorgonia.Node) (*gorgonia.Node, error) { return SoftmaxCrossEntropy(in[0], in[1]) },
		firstWRT: []int{0}, wrt: []int{0}}},
	"mseGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{3, 4}, {3, 4}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) { return MSE(in[0], in[1]) }, firstWRT: []int{0}, wrt: []int{1}}},
	"pseudoHuberGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{3, 4}, {3, 4}, {3}},
		first:    func(in []*gorgonia.Node) (*gorgonia.Node, error) { return PseudoHuber(in[0], in[1], in[2], 0.5) },
		firstWRT: []int{0}, wrt: []int{1}}},
	"splitGrad": {defined: true, secondOrder: secondOrder{shapes: []tensor.Shape{{2, 4, 2, 2}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) { return squared(Split(in[0], 1, 3)) }, firstWRT: []int{0}, wrt: []int{0}}},
	"upsampleGrad": {defined: true, secondOrder: secondOrder{shapes: []tensor.Shape{{1, 2, 2, 3}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) { return squared(Upsample2x(in[0])) }, firstWRT: []int{0}, wrt: []int{0}}},
	"dropoutGrad": {defined: true, secondOrder: secondOrder{shapes: []tensor.Shape{{2, 8}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return squared(Dropout(in[0], 0.5, 1, &RNG{Seed: 9}))
		}, firstWRT: []int{0}, wrt: []int{0}}},
	"sinusoidalGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{3}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) { return squared(Sinusoidal(in[0], 4, 1)) }, firstWRT: []int{0}, wrt: []int{0}}},
	"softmaxGrad": {secondOrder: secondOrder{shapes: []tensor.Shape{{2, 5}, {2, 5}},
		first: func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			y, err := Softmax(in[0])
			if err == nil {
				y, err = Binary(Mul, y, in[1])
			}
			return sumOr(y, err)
		}, firstWRT: []int{0}, wrt: []int{0}}},
}

var convShapes = []tensor.Shape{{1, 2, 5, 5}, {3, 2, 3, 3}, {1, 3, 3, 3}}

// sumConv is sum(conv(x, w) * c) with stride 2.
func sumConv(in []*gorgonia.Node) (*gorgonia.Node, error) {
	y, err := Conv2d(in[0], in[1], nil, 2, 1)
	if err == nil {
		y, err = Binary(Mul, y, in[2])
	}
	return sumOr(y, err)
}

func sumOr(y *gorgonia.Node, err error) (*gorgonia.Node, error) {
	if err != nil {
		return nil, err
	}
	return Sum(y)
}

func squared(y *gorgonia.Node, err error) (*gorgonia.Node, error) {
	if err != nil {
		return nil, err
	}
	return sumSquares(nil, nil, gorgonia.Nodes{y})
}

// Every backward op either has a derivative that matches finite
// differences, or asking for one is an error that names it; none is taken
// for a constant (which gave wrong numbers before).
func TestSecondOrderThroughEveryBackwardOp(t *testing.T) {
	for typ, c := range backwardOpCases {
		t.Run(typ, func(t *testing.T) {
			if c.defined {
				c.check(t)
				return
			}
			g, _, _, _, err := c.build(t)
			if err == nil {
				t.Fatalf("the second Grad through %s succeeded; want an error naming it", typ)
			}
			named := false
			for _, n := range g.AllNodes() {
				if op := n.Op(); op != nil && opType(op) == typ {
					named = named || strings.Contains(err.Error(), "the gradient of "+op.String()+" is not defined")
				}
			}
			if !named {
				t.Fatalf("error %q names no %s of the graph", err, typ)
			}
		})
	}
}

// Every type that embeds gradBase has a case above, so that a backward op
// added later cannot go untested.
func TestEveryBackwardOpHasASecondOrderCase(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := spec.Type.(*ast.StructType); ok {
				for _, field := range st.Fields.List {
					if id, ok := field.Type.(*ast.Ident); ok && len(field.Names) == 0 && id.Name == "gradBase" {
						found++
						if _, ok := backwardOpCases[spec.Name.Name]; !ok {
							t.Errorf("backward op %s (%s) has no case in backwardOpCases", spec.Name.Name, name)
						}
					}
				}
			}
			return false
		})
	}
	if found != len(backwardOpCases) {
		t.Errorf("%d types embed gradBase, %d cases", found, len(backwardOpCases))
	}
}

// opType is the name of op's type, without the pointer.
func opType(op gorgonia.Op) string {
	t := reflect.TypeOf(op)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
