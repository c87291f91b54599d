package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Both gradients (by the logits and by the targets, here any real
// weights) against finite differences in float64, and the float32 kernels
// against the float64 ones.
func TestSoftmaxCrossEntropyGradients(t *testing.T) {
	checkOp(t, []tensor.Shape{{5, 7}, {5, 7}}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	})
}

// crossEntropy runs SoftmaxCrossEntropy in float32 on the TapeMachine and
// returns the loss and its gradient by the logits.
func crossEntropy(t *testing.T, n, k int, logits, targets []float32) (float64, []float64) {
	t.Helper()
	g := gorgonia.NewGraph()
	l := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(n, k), gorgonia.WithName("l"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(logits))))
	y := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(n, k), gorgonia.WithName("t"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(targets))))
	loss, err := SoftmaxCrossEntropy(l, y)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gorgonia.Grad(loss, l)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return f64s(t, loss.Value())[0], f64s(t, grads[0].Value())
}

// With one-hot targets the loss is the mean of -log softmax at the label,
// as plain float64 arithmetic gives it for moderate logits; the gradient
// is (softmax - onehot)/N.
func TestSoftmaxCrossEntropyIsTheMeanNLL(t *testing.T) {
	const n, k = 6, 10
	rng := rand.New(rand.NewPCG(21, 21))
	logits, targets := make([]float32, n*k), make([]float32, n*k)
	for i := range logits {
		logits[i] = float32(3 * rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(k)
		targets[i*k+labels[i]] = 1
	}
	var want float64
	wantGrad := make([]float64, n*k)
	for i := range n {
		var s float64
		for j := range k {
			s += math.Exp(float64(logits[i*k+j]))
		}
		want -= math.Log(math.Exp(float64(logits[i*k+labels[i]]))/s) / n
		for j := range k {
			wantGrad[i*k+j] = (math.Exp(float64(logits[i*k+j]))/s - float64(targets[i*k+j])) / n
		}
	}
	loss, grad := crossEntropy(t, n, k, logits, targets)
	assertClose(t, "loss", []float64{loss}, []float64{want}, 1e-6)
	assertClose(t, "gradient", grad, wantGrad, 1e-6)
}

// Logits of ±1000, where exp overflows float32 and float64 alike and a
// softmax rounds the label's probability to 0, still give the exact loss
// and gradient: row 0's label is 1000 below the top logit, row 1's is the
// top one.
func TestSoftmaxCrossEntropyIsStable(t *testing.T) {
	logits := []float32{1000, 0, -1000, -1000, 0, 1000}
	targets := []float32{0, 1, 0, 0, 0, 1}
	loss, grad := crossEntropy(t, 2, 3, logits, targets)
	if loss != 500 {
		t.Errorf("loss %v, want (1000 + 0)/2 = 500", loss)
	}
	assertClose(t, "gradient", grad, []float64{0.5, -0.5, 0, 0, 0, 0}, 1e-7)
}

func TestSoftmaxCrossEntropyRefusesShapes(t *testing.T) {
	g := gorgonia.NewGraph()
	a := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 10), gorgonia.WithName("a"))
	b := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 9), gorgonia.WithName("b"))
	c := gorgonia.NewTensor(g, tensor.Float32, 1, gorgonia.WithShape(40), gorgonia.WithName("c"))
	for _, in := range [][2]*gorgonia.Node{{a, b}, {c, c}} {
		if _, err := SoftmaxCrossEntropy(in[0], in[1]); err == nil {
			t.Errorf("logits %v, targets %v accepted", in[0].Shape(), in[1].Shape())
		}
	}
}

// Accuracy on rows counted by hand: a hit, a tie (the first column
// wins), a hit of an all-negative row, a miss; and asking for its
// gradient is an error naming it.
func TestAccuracyCountsRows(t *testing.T) {
	logits := []float32{0.1, 0.9, 0.3, 2, 2, 1, -1, -3, -2, 0, 0.5, 0.4}
	targets := []float32{0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1}
	g := gorgonia.NewGraph()
	l := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 3), gorgonia.WithName("l"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(logits))))
	y := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(4, 3), gorgonia.WithName("t"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(4, 3), tensor.WithBacking(targets))))
	acc, err := Accuracy(l, y)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := f64s(t, acc.Value())[0]; got != 0.5 {
		t.Errorf("accuracy %v, want 2 of 4 rows", got)
	}
	if _, err := gorgonia.Grad(acc, l); err == nil || !strings.Contains(err.Error(), "Accuracy") || !strings.Contains(err.Error(), "no gradient") {
		t.Errorf("the gradient of the accuracy: err = %v, want one naming it", err)
	}
}

// LogSumExp matches the direct formula where exp does not overflow, stays
// finite where it would (1000 + log 2), and is -Inf for a row of -Inf.
func TestLogSumExp(t *testing.T) {
	v := []float64{-1.5, 0.25, 3, 2}
	var s float64
	for _, x := range v {
		s += math.Exp(x)
	}
	if got, want := LogSumExp(v), math.Log(s); math.Abs(got-want) > 1e-14 {
		t.Errorf("LogSumExp(%v) = %v, want %v", v, got, want)
	}
	if got, want := LogSumExp([]float32{1000, 1000}), 1000+math.Ln2; math.Abs(got-want) > 1e-12 {
		t.Errorf("LogSumExp(1000, 1000) = %v, want %v", got, want)
	}
	if got := LogSumExp([]float64{math.Inf(-1), math.Inf(-1)}); !math.IsInf(got, -1) {
		t.Errorf("LogSumExp(-Inf, -Inf) = %v, want -Inf", got)
	}
}
