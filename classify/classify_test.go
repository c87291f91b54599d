package classify

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/scoregen/scoregen/ckpt"
	"github.com/scoregen/scoregen/configs"
	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/device"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/train"
)

// testConfig is mnist_classifier shrunk so that a step takes
// milliseconds, writing into dir.
func testConfig(t *testing.T, dir string, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load("mnist_classifier.yaml", append([]string{"classifier.ch=4", "classifier.features=8",
		"data.batch_size=16", "train.warmup=0", "train.lr=3e-3", "train.log_every=1000", "train.ckpt_every=1000",
		"train.out_dir=" + dir}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// bars is n 28x28 images of a vertical bar whose column says the label
// (i % 10: column 4 + 2 label, or the next), with noise: learnable in a
// few hundred small steps. seed makes a fresh set.
func bars(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 5))
	ds := &data.Dataset{Name: "mnist", N: n, C: 1, H: 28, W: 28, Pixels: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		label := i % 10
		ds.Labels[i] = uint8(label)
		col := 4 + 2*label + rng.IntN(2)
		img := ds.Pixels[i*784 : (i+1)*784]
		for j := range img {
			img[j] = uint8(rng.IntN(40))
		}
		for y := 6 + rng.IntN(3); y < 22; y++ {
			img[y*28+col] = 255
		}
	}
	return ds
}

// trained trains cfg on bars for its train.steps and returns its folder.
func trained(t *testing.T, cfg *configs.Config) string {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(f, cfg, bars(400, 1), train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cfg.Train.OutDir
}

func openJudge(t *testing.T, dir string) *Judge {
	t.Helper()
	j, err := OpenJudge(dir, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

// images is ds's images as the loader maps them.
func images(ds *data.Dataset) []float32 {
	x := make([]float32, ds.N*ds.C*ds.H*ds.W)
	ds.Images(x, 0, ds.N)
	return x
}

// reference is the network computed plainly in float64 from a
// checkpoint's EMA weights, without dropout: each image's features and
// class probabilities.
type reference struct {
	w func(name string) []float32
}

func newReference(t *testing.T, dir string) reference {
	t.Helper()
	c, err := ckpt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return reference{w: func(name string) []float32 {
		v, ok := c.Weights("ema." + name)
		if !ok {
			t.Fatalf("checkpoint %s has no ema.%s", c.Path, name)
		}
		return v
	}}
}

// conv is a 3x3 convolution with padding 1 and ReLU of x [c, h, w].
func (r reference) conv(name string, x []float64, c, h, w, out, stride int) (y []float64, oh, ow int) {
	wt, b := r.w(name+".weight"), r.w(name+".bias")
	oh, ow = (h-1)/stride+1, (w-1)/stride+1
	y = make([]float64, out*oh*ow)
	for o := range out {
		for oy := range oh {
			for ox := range ow {
				s := float64(b[o])
				for ci := range c {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := oy*stride+ky-1, ox*stride+kx-1
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								s += float64(wt[((o*c+ci)*3+ky)*3+kx]) * x[(ci*h+iy)*w+ix]
							}
						}
					}
				}
				y[(o*oh+oy)*ow+ox] = max(s, 0)
			}
		}
	}
	return y, oh, ow
}

// linear is x W^T + b, W [out, len(x)].
func (r reference) linear(name string, x []float64) []float64 {
	wt, b := r.w(name+".weight"), r.w(name+".bias")
	y := make([]float64, len(b))
	for o := range y {
		y[o] = float64(b[o])
		for i, v := range x {
			y[o] += float64(wt[o*len(x)+i]) * v
		}
	}
	return y
}

func (r reference) run(img []float32, ch int) (features, probs []float64) {
	x := make([]float64, len(img))
	for i, v := range img {
		x[i] = float64(v)
	}
	h, oh, ow := r.conv("conv1", x, 1, 28, 28, ch, 1)
	h, oh, ow = r.conv("conv2", h, ch, oh, ow, ch, 2)
	h, oh, ow = r.conv("conv3", h, ch, oh, ow, 2*ch, 1)
	h, _, _ = r.conv("conv4", h, 2*ch, oh, ow, 2*ch, 2)
	features = r.linear("fc", h)
	for i := range features {
		features[i] = max(features[i], 0)
	}
	logits := r.linear("out", features)
	var s float64
	for _, l := range logits {
		s += math.Exp(l)
	}
	for _, l := range logits {
		probs = append(probs, math.Exp(l)/s)
	}
	return features, probs
}

// within fails unless got and want differ by at most tol times want's
// largest magnitude (at least 1).
func within(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	scale := 1.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// The judge's features and probabilities are the network's, computed
// plainly in float64 from the checkpoint's EMA weights without dropout
// (the run trained with dropout 0.5): for more images than one batch.
func TestJudgeMatchesAFloat64Forward(t *testing.T) {
	dir := trained(t, testConfig(t, t.TempDir(), "train.steps=30", "classifier.dropout=0.5"))
	j := openJudge(t, dir)
	if j.Dataset() != "mnist" || j.Dim() != 8 || j.Checkpoint() != filepath.Join(dir, ckpt.Name(30)) {
		t.Fatalf("judge of %s, %d features, from %s", j.Dataset(), j.Dim(), j.Checkpoint())
	}
	test := bars(judgeBatch+7, 2)
	x := images(test)
	features, probs, err := j.Run(x, test.N)
	if err != nil {
		t.Fatal(err)
	}
	ref := newReference(t, dir)
	for i := range test.N {
		wantF, wantP := ref.run(x[i*784:(i+1)*784], 4)
		within(t, "features", features[i*8:(i+1)*8], wantF, 1e-5)
		within(t, "probabilities", probs[i*Classes:(i+1)*Classes], wantP, 1e-5)
	}
}

// On the same weights, the training graph's loss and accuracy on a batch
// (without dropout, which only the training graph has) are the mean -log
// p(label) and the fraction of right argmaxes of the judge's
// probabilities.
func TestJudgeAgreesWithTheTrainingGraph(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "train.steps=40", "classifier.dropout=0")
	dir := trained(t, cfg)
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 16
	tg, err := f.TrainGraph(batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	up := tg.Updates[0]
	plans, err := device.Compile("cpu", device.Options{}, gorgonia.Nodes{up.Loss, up.Metrics[0].Node})
	if err != nil {
		t.Fatal(err)
	}
	defer plans.Close()
	p := plans.Plans[0]
	ref := newReference(t, dir)
	for _, w := range tg.Groups[0].Params {
		if err := p.Write(w, ref.w(w.Name())); err != nil {
			t.Fatal(err)
		}
	}
	test := bars(batch, 3)
	x := images(test)
	onehot := make([]float32, batch*Classes)
	for i, l := range test.Labels {
		onehot[i*Classes+int(l)] = 1
	}
	if err := p.Write(tg.X, x); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(tg.Labels, onehot); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	var loss, acc [1]float32
	if err := p.Read(up.Loss, loss[:]); err != nil {
		t.Fatal(err)
	}
	if err := p.Read(up.Metrics[0].Node, acc[:]); err != nil {
		t.Fatal(err)
	}

	_, probs, err := openJudge(t, dir).Run(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	var nll float64
	hits := 0
	for i, l := range test.Labels {
		row := probs[i*Classes : (i+1)*Classes]
		nll -= math.Log(row[l]) / batch
		if argmax(row) == int(l) {
			hits++
		}
	}
	if hits == 0 || hits == batch {
		t.Fatalf("%d of %d right: the accuracy check wants a batch of right and wrong rows", hits, batch)
	}
	within(t, "loss", []float64{float64(loss[0])}, []float64{nll}, 1e-5)
	if want := float64(hits) / batch; float64(acc[0]) != want {
		t.Fatalf("training graph's accuracy %v, the judge's %v", acc[0], want)
	}
}

// An image's features and probabilities do not depend on the images it
// is scored with: shifting the set by one changes every batch's contents
// and each image's place in it, and one image alone is a batch of its
// own; all agree bit for bit.
func TestJudgeFeaturesAreBatchInvariant(t *testing.T) {
	j := openJudge(t, trained(t, testConfig(t, t.TempDir(), "train.steps=10")))
	test := bars(judgeBatch+40, 4)
	x := images(test)
	all, allP, err := j.Run(x, test.N)
	if err != nil {
		t.Fatal(err)
	}
	shifted, shiftedP, err := j.Run(x[784:], test.N-1)
	if err != nil {
		t.Fatal(err)
	}
	last := test.N - 1
	one, oneP, err := j.Run(x[last*784:], 1)
	if err != nil {
		t.Fatal(err)
	}
	d := j.Dim()
	for i := 1; i < test.N; i++ {
		for k := range d {
			if all[i*d+k] != shifted[(i-1)*d+k] {
				t.Fatalf("image %d, feature %d: %v in the full set, %v shifted by one", i, k, all[i*d+k], shifted[(i-1)*d+k])
			}
		}
		for k := range Classes {
			if allP[i*Classes+k] != shiftedP[(i-1)*Classes+k] {
				t.Fatalf("image %d, class %d: probability %v in the full set, %v shifted by one", i, k, allP[i*Classes+k], shiftedP[(i-1)*Classes+k])
			}
		}
	}
	for k := range d {
		if one[k] != all[last*d+k] {
			t.Fatalf("the last image alone: feature %d is %v, %v in the set", k, one[k], all[last*d+k])
		}
	}
	for k := range Classes {
		if oneP[k] != allP[last*Classes+k] {
			t.Fatalf("the last image alone: probability %d is %v, %v in the set", k, oneP[k], allP[last*Classes+k])
		}
	}
}

// The test set's accuracy and cross-entropy are those of the float64
// network, over more images than one evaluation batch; and a classifier
// trained for 200 steps tells the bars apart.
func TestEvaluateScoresTheTestSet(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "train.steps=200", "classifier.ch=8", "classifier.features=16")
	dir := trained(t, cfg)
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ckpt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	test := bars(evalBatch+23, 6)
	got, err := f.Evaluate(c.Weights, test, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	ref := newReference(t, dir)
	x := images(test)
	var nll float64
	hits := 0
	for i, l := range test.Labels {
		_, p := ref.run(x[i*784:(i+1)*784], 8)
		nll -= math.Log(p[l]) / float64(test.N)
		if argmax(p) == int(l) {
			hits++
		}
	}
	within(t, "cross_entropy", []float64{got["cross_entropy"]}, []float64{nll}, 1e-5)
	if want := float64(hits) / float64(test.N); got["accuracy"] != want {
		t.Errorf("accuracy %v, the float64 network's %v", got["accuracy"], want)
	}
	if got["accuracy"] < 0.9 {
		t.Errorf("accuracy %v on held-out bars after 200 steps: the labels do not reach the loss", got["accuracy"])
	}
}

var testOptions = model.SampleOptions{Device: "cpu", EMA: true}

// OpenJudge refuses, in one line naming the folder and what it wants, a
// checkpoint of another family and a folder without one; Run refuses
// images of the wrong size; the family refuses to sample.
func TestJudgeRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	vae, err := configs.Load("mnist_vae.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = ckpt.SaveRun(filepath.Join(dir, ckpt.Name(5)), nil, ckpt.RunMeta{Family: "vae", Config: vae, Step: 5, DataPosition: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, c := range []struct{ dir, want string }{
		{dir, "model.type vae, want one of model.type classifier"},
		{empty, "no checkpoint"},
	} {
		_, err := OpenJudge(c.dir, "cpu")
		if err == nil || !strings.HasPrefix(err.Error(), "judge "+c.dir+":") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("OpenJudge(%s): err = %v, want one line naming it and saying %q", c.dir, err, c.want)
		}
	}

	cfg := testConfig(t, t.TempDir(), "train.steps=1")
	j := openJudge(t, trained(t, cfg))
	if _, _, err := j.Run(make([]float32, 2*784-1), 2); err == nil || !strings.Contains(err.Error(), "1567") {
		t.Errorf("Run of 2 images on 1567 values: err = %v", err)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewSampler(nil, 1, testOptions); err == nil || !strings.Contains(err.Error(), "does not generate images") {
		t.Errorf("NewSampler: err = %v", err)
	}
}
