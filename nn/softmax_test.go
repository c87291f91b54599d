package nn

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func softmaxOf(in []*gorgonia.Node) (*gorgonia.Node, error) { return Softmax(in[0]) }

func TestSoftmaxGradient(t *testing.T) {
	for _, s := range []tensor.Shape{{3, 7}, {2, 3, 5}, {1, 4}, {6}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) { checkOp(t, []tensor.Shape{s}, softmaxOf) })
	}
}

// gorgonia's SoftMax defaults to the last axis (axis 0 only for column
// vectors, which these shapes are not).
func TestSoftmaxAgainstGorgonia(t *testing.T) {
	for _, s := range []tensor.Shape{{3, 7}, {2, 3, 5}, {300, 257}} { // the last splits across cores
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			checkAgainst(t, tensor.Float64, []tensor.Shape{s}, softmaxOf, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return gorgonia.SoftMax(in[0])
			}, 1e-12)
		})
	}
}

// TestSoftmaxLargeInputs checks stability: exp(1000) overflows, but the
// softmax of (1000, 1001, 1002) is that of (0, 1, 2).
func TestSoftmaxLargeInputs(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		x := tensor.New(tensor.WithShape(2, 3), tensor.Of(dt))
		for i, v := range []float64{1000, 1001, 1002, -1000, -1001, -1002} {
			if dt == tensor.Float32 {
				x.Data().([]float32)[i] = float32(v)
			} else {
				x.Data().([]float64)[i] = v
			}
		}
		got := evalOn(t, softmaxOf, x)
		z := 1 + math.E + math.E*math.E
		want := []float64{1 / z, math.E / z, math.E * math.E / z, math.E * math.E / z, math.E / z, 1 / z}
		assertClose(t, "softmax "+dt.String(), got, want, 1e-6)
	}
}

func TestSoftmaxRejectsScalar(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewScalar(g, tensor.Float32, gorgonia.WithName("x"))
	_, err := Softmax(x)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(x.Shape())) {
		t.Fatalf("Softmax of a scalar: error %v, want one naming shape %v", err, x.Shape())
	}
}

func TestSoftmaxKernelsDoNotAllocate(t *testing.T) {
	s := tensor.Shape{512, 256}
	assertNoAllocs(t, "forward", bindRandom(&softmax{}, s, s))
	assertNoAllocs(t, "grad", bindRandom(&softmaxGrad{}, s, s, s))
}
