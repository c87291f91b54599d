package nn

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/par"
)

// A classifier's loss and its accuracy (the metric the trainer reports).
//
// The softmax cross-entropy of a classifier's logits l [N, K] against
// targets t [N, K] (one-hot labels, or any weights per class), averaged
// over the rows: (1/N) sum_i sum_k t_ik (lse_i - l_ik), where lse_i =
// log sum_k e^(l_ik) is computed as m + log sum_k e^(l_ik - m) with m the
// row's maximum, so that no exp overflows and no small probability is
// lost to a softmax that rounded it to 0 before its log. Rows are computed
// in float64.

// ceRow is row l's log-sum-exp, its cross-entropy against t, and the sum
// of t (1 for a one-hot row).
func ceRow[T engine.Float](l, t []T) (lse, loss, tsum float64) {
	lse = LogSumExp(l)
	for j, v := range l {
		loss += float64(t[j]) * (lse - float64(v))
		tsum += float64(t[j])
	}
	return lse, loss, tsum
}

// LogSumExp is log sum_j exp(v_j) in float64, with the largest v_j taken
// out before exp so that no term overflows; -Inf or +Inf when that is the
// largest.
func LogSumExp[T engine.Float](v []T) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, float64(x))
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}

// classRows checks that logits and targets are both [N, classes].
func classRows(op string, logits, targets *gorgonia.Node) error {
	ls, ts := logits.Shape(), targets.Shape()
	if ls.Dims() != 2 || ts.Dims() != 2 || !ls.Eq(ts) {
		return fmt.Errorf("%s: logits %v and targets %v: want both [N, classes]", op, ls, ts)
	}
	return nil
}

// softmaxCE is SoftmaxCrossEntropy's scalar.
type softmaxCE struct{ base }

// SoftmaxCrossEntropy is the mean over the N rows of the cross-entropy of
// softmax(logits) against targets, both [N, K]: -(1/N) sum_ik t_ik log
// softmax(l_i)_k, a scalar. With one-hot targets it is the mean negative
// log-likelihood of the labels.
func SoftmaxCrossEntropy(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if err := classRows("SoftmaxCrossEntropy", logits, targets); err != nil {
		return nil, err
	}
	return apply(&softmaxCE{newBase("SoftmaxCrossEntropy", tensor.ScalarShape(), logits, targets)}, logits, targets)
}

func (o *softmaxCE) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *softmaxCE) BindCPU(c *engine.Call[float32]) func()         { return bindSoftmaxCE(c) }
func (o *softmaxCE) bind64(c *engine.Call[float64]) func()          { return bindSoftmaxCE(c) }

// The rows' losses are summed by blockMean, so that the result does not
// depend on the number of cores.
func bindSoftmaxCE[T engine.Float](c *engine.Call[T]) func() {
	out, l, t := c.Out.Data, c.In[0].Data, c.In[1].Data
	n, k := c.In[0].Shape[0], c.In[0].Shape[1]
	return blockMean(out, n, max(1, grain/k), func(r int) float64 {
		_, loss, _ := ceRow(l[r*k:(r+1)*k], t[r*k:(r+1)*k])
		return loss
	})
}

func (o *softmaxCE) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := forgetDerivs(in); err != nil {
		return nil, err
	}
	grads := make(gorgonia.Nodes, 2)
	for wrt := range grads {
		g, err := apply(&softmaxCEGrad{gradBase: gradOf(fmt.Sprintf("SoftmaxCrossEntropyGrad(%d)", wrt), in[0].Shape(), in[0], in[1], grad), wrt: wrt},
			in[0], in[1], grad)
		if err != nil {
			return nil, err
		}
		grads[wrt] = g
	}
	return grads, nil
}

// softmaxCEGrad is, from (logits, targets, g) with g the loss's gradient
// (a scalar), the gradient by the logits (wrt 0): g/N (softmax(l_i) S_i -
// t_i) with S_i the sum of row i's targets; or by the targets (wrt 1):
// g/N (lse_i - l_i). Its own derivative is not defined: differentiating
// it is an error (gradBase), as no model takes a second derivative
// through a classifier's loss.
type softmaxCEGrad struct {
	gradBase
	wrt int
}

func (o *softmaxCEGrad) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *softmaxCEGrad) BindCPU(c *engine.Call[float32]) func()         { return bindSoftmaxCEGrad(o, c) }
func (o *softmaxCEGrad) bind64(c *engine.Call[float64]) func()          { return bindSoftmaxCEGrad(o, c) }

func bindSoftmaxCEGrad[T engine.Float](o *softmaxCEGrad, c *engine.Call[T]) func() {
	d, l, t, g := c.Out.Data, c.In[0].Data, c.In[1].Data, c.In[2].Data
	n, k := c.In[0].Shape[0], c.In[0].Shape[1]
	var f float64 // g/N, read from g each run
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			lr, tr, dr := l[r*k:(r+1)*k], t[r*k:(r+1)*k], d[r*k:(r+1)*k]
			lse, _, tsum := ceRow(lr, tr)
			for j := range dr {
				if o.wrt == 0 {
					dr[j] = T(f * (math.Exp(float64(lr[j])-lse)*tsum - float64(tr[j])))
				} else {
					dr[j] = T(f * (lse - float64(lr[j])))
				}
			}
		}
	}
	return func() {
		f = float64(g[0]) / float64(n)
		par.For(n, max(1, grain/k), body)
	}
}

// argmax is the index of v's largest element, the first where several tie
// (and 0 where v holds NaN before any larger number).
func argmax[T engine.Float](v []T) int {
	best := 0
	for j := range v {
		if v[j] > v[best] {
			best = j
		}
	}
	return best
}

// accuracy is Accuracy's scalar.
type accuracy struct{ base }

// Accuracy is the fraction of the N rows whose largest logit is in the
// column of their largest target (the label's, for one-hot targets), ties
// going to the first column, as a scalar. It is a count, with no gradient:
// differentiating it is an error naming it.
func Accuracy(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if err := classRows("Accuracy", logits, targets); err != nil {
		return nil, err
	}
	return apply(&accuracy{newBase("Accuracy", tensor.ScalarShape(), logits, targets)}, logits, targets)
}

func (o *accuracy) Do(v ...gorgonia.Value) (gorgonia.Value, error) { return do(o, v) }
func (o *accuracy) BindCPU(c *engine.Call[float32]) func()         { return bindAccuracy(c) }
func (o *accuracy) bind64(c *engine.Call[float64]) func()          { return bindAccuracy(c) }

func bindAccuracy[T engine.Float](c *engine.Call[T]) func() {
	out, l, t := c.Out.Data, c.In[0].Data, c.In[1].Data
	n, k := c.In[0].Shape[0], c.In[0].Shape[1]
	return func() {
		hits := 0
		for r := range n {
			if argmax(l[r*k:(r+1)*k]) == argmax(t[r*k:(r+1)*k]) {
				hits++
			}
		}
		out[0] = T(float64(hits) / float64(n))
	}
}

func (o *accuracy) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, errors.Errorf("nn: %s has no gradient (it counts rows); report it, do not minimise it", o.name)
}
