package vae

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/data"
	"github.com/scoregen/scoregen/internal/philox"
	"github.com/scoregen/scoregen/model"
	"github.com/scoregen/scoregen/nn"
	"github.com/scoregen/scoregen/sde"
)

// EvalSeed keys Evaluate's randomness: the one binarisation of the test
// set (Bernoulli decoders; pixel j of image i is 1 where uniform element
// i*C*H*W + j of (EvalSeed, StreamBinarize, draw 0) is below its value /
// 255) and the K draws of q(z|x) per image (elements of (EvalSeed,
// StreamPosterior, draw 0)), so that every checkpoint is scored on the same
// binarised images with the same noise, whatever the batch.
const EvalSeed uint64 = 0xE7A1

// evalSamples is about how many (image, z) pairs one evaluation batch
// decodes: the K draws of an image are one batch of the decoder.
const evalSamples = 512

// Evaluate scores the test images with the weights w (their averages with
// o.EMA), per image: "nelbo_nats", the negative ELBO, with the
// reconstruction term averaged over vae.iwae_k draws of q(z|x) and the KL
// in closed form; "iwae_nats", the negative importance-weighted bound
// -log (1/K) sum_k p(x, z_k) / q(z_k|x) with the same K draws (Burda et
// al. 2016), which is tighter; and both in bits per dimension
// ("bits_per_dim", "iwae_bits_per_dim": nats / (C H W ln 2)), each with
// the standard error of its mean over the images ("nelbo_se_nats", ...,
// "iwae_bits_per_dim_se"; left out for a single image). The log-sum-exp
// and the sums are in float64.
func (f *Family) Evaluate(w model.Weights, test *data.Dataset, o model.SampleOptions) (map[string]float64, error) {
	if test.C != f.c || test.H != f.h || test.W != f.w {
		return nil, fmt.Errorf("vae: test set %s has %dx%dx%d images, the model %dx%dx%d", test.Name, test.C, test.H, test.W, f.c, f.h, f.w)
	}
	if test.N < 1 {
		return nil, fmt.Errorf("vae: test set %s is empty", test.Name)
	}
	k, latent, d := f.cfg.IWAEK, f.cfg.Latent, f.c*f.h*f.w
	n := min(max(1, evalSamples/k), test.N)
	e, err := f.evalGraph(n)
	if err != nil {
		return nil, err
	}
	plans, err := compileWith(w, e.params, o, false, gorgonia.Nodes{e.recon, e.mu, e.logvar, e.z})
	if err != nil {
		return nil, err
	}
	defer plans.Close()
	p := plans.Plans[0]
	x, target, eps := make([]float32, n*d), make([]float32, n*k*d), make([]float32, n*k*latent)
	recon, mu, logvar, z := make([]float32, n*k), make([]float32, n*latent), make([]float32, n*latent), make([]float32, n*k*latent)
	// Sums and sums of squares of the per-image bounds, for the means'
	// standard errors.
	var elbo, iwae, elbo2, iwae2 float64
	logw := make([]float64, k)
	for first := 0; first < test.N; first += n {
		// A last batch that runs past the end repeats the last image and
		// ignores it.
		for i := range n {
			img := min(first+i, test.N-1)
			xi := x[i*d : (i+1)*d]
			test.Images(xi, img, 1)
			ti := target[i*k*d : (i*k+1)*d]
			if f.cfg.Decoder == Bernoulli {
				binarize(ti, test.Pixels[img*d:(img+1)*d], img*d)
			} else {
				copy(ti, xi)
			}
			for s := 1; s < k; s++ {
				copy(target[(i*k+s)*d:(i*k+s+1)*d], ti)
			}
		}
		sde.Normals(eps, EvalSeed, StreamPosterior, 0, first*k*latent)
		for _, in := range []struct {
			n *gorgonia.Node
			v []float32
		}{{e.x, x}, {e.target, target}, {e.eps, eps}} {
			if err := p.Write(in.n, in.v); err != nil {
				return nil, err
			}
		}
		if err := p.Run(); err != nil {
			return nil, err
		}
		for _, out := range []struct {
			n *gorgonia.Node
			v []float32
		}{{e.recon, recon}, {e.mu, mu}, {e.logvar, logvar}, {e.z, z}} {
			if err := p.Read(out.n, out.v); err != nil {
				return nil, err
			}
		}
		for i := range min(n, test.N-first) {
			lv := logvar[i*latent : (i+1)*latent]
			var meanLogLik float64
			for s := range k {
				r := i*k + s
				logw[s] = -float64(recon[r]) + logPriorOverPosterior(z[r*latent:(r+1)*latent], eps[r*latent:(r+1)*latent], lv)
				meanLogLik -= float64(recon[r]) / float64(k)
			}
			e, w := meanLogLik-klNormal(mu[i*latent:(i+1)*latent], lv), logMeanExp(logw)
			elbo, elbo2 = elbo+e, elbo2+e*e
			iwae, iwae2 = iwae+w, iwae2+w*w
		}
	}
	nelbo, niwae := -elbo/float64(test.N), -iwae/float64(test.N)
	nelboSE, niwaeSE := standardError(elbo, elbo2, test.N), standardError(iwae, iwae2, test.N)
	perDim := float64(d) * math.Ln2
	figures := map[string]float64{
		"nelbo_nats": nelbo, "iwae_nats": niwae,
		"bits_per_dim": nelbo / perDim, "iwae_bits_per_dim": niwae / perDim,
	}
	if test.N > 1 { // one image has no spread to estimate
		figures["nelbo_se_nats"], figures["iwae_se_nats"] = nelboSE, niwaeSE
		figures["bits_per_dim_se"], figures["iwae_bits_per_dim_se"] = nelboSE/perDim, niwaeSE/perDim
	}
	return figures, nil
}

// standardError is the standard error of the mean of n values whose sum
// and sum of squares are sum and sum2 (the sample standard deviation over
// sqrt(n); 0 for one value).
func standardError(sum, sum2 float64, n int) float64 {
	if n < 2 {
		return 0
	}
	mean := sum / float64(n)
	variance := max(0, (sum2-float64(n)*mean*mean)/float64(n-1))
	return math.Sqrt(variance / float64(n))
}

// evalNet is the evaluation graph for n images and K draws each: x [n, C,
// H, W], eps [n, K, latent], target [n*K, C, H, W] (the data each draw is
// scored on: image i's at rows i*K .. i*K+K-1); the outputs -log p(x|z) per
// draw [n*K, 1], q's parameters [n, latent], and z [n, K, latent].
type evalNet struct {
	x, eps, target       *gorgonia.Node
	recon, mu, logvar, z *gorgonia.Node
	params               []*gorgonia.Node
}

func (f *Family) evalGraph(n int) (*evalNet, error) {
	k, latent := f.cfg.IWAEK, f.cfg.Latent
	g := gorgonia.NewGraph()
	b := nn.NewBuilder(g, 0, false)
	e := &evalNet{
		x:      gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(n, f.c, f.h, f.w), gorgonia.WithName("x")),
		eps:    gorgonia.NewTensor(g, tensor.Float32, 3, gorgonia.WithShape(n, k, latent), gorgonia.WithName("eps")),
		target: gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(n*k, f.c, f.h, f.w), gorgonia.WithName("target")),
	}
	var err error
	if e.mu, e.logvar, err = f.encode(b, e.x); err != nil {
		return nil, err
	}
	o := &ops{}
	e.z = o.reparameterise(o.reshape(e.mu, n, 1, latent), o.reshape(e.logvar, n, 1, latent), e.eps)
	if o.err != nil {
		return nil, o.err
	}
	out, err := f.decode(b, o.reshape(e.z, n*k, latent))
	if err != nil {
		return nil, err
	}
	e.recon = f.recon(o, out, e.target)
	e.params = b.Params
	return e, o.err
}

// binarize sets dst[j] to 1 where uniform element off+j of (EvalSeed,
// StreamBinarize, draw 0) is below pix[j]/255, else to 0.
func binarize(dst []float32, pix []uint8, off int) {
	key := philox.Key(EvalSeed)
	for j, v := range pix {
		e := off + j
		r := philox.Block(philox.Counter(e/4, StreamBinarize, 0), key)
		dst[j] = 0
		if philox.Uniform24(r[e%4]) < float64(v)/255 {
			dst[j] = 1
		}
	}
}

// logPriorOverPosterior is log p(z) - log q(z|x) for a draw z = mu + e^(lv/2)
// eps of q = N(mu, e^lv): sum over the latent of -z^2/2 + eps^2/2 + lv/2
// (the normalising constants cancel).
func logPriorOverPosterior(z, eps, lv []float32) float64 {
	var s float64
	for l := range z {
		zl, el := float64(z[l]), float64(eps[l])
		s += 0.5 * (el*el - zl*zl + float64(lv[l]))
	}
	return s
}

// klNormal is KL(N(mu, e^lv) || N(0, I)) = 0.5 sum(mu^2 + e^lv - 1 - lv).
func klNormal(mu, lv []float32) float64 {
	var s float64
	for l := range mu {
		m, v := float64(mu[l]), float64(lv[l])
		s += m*m + math.Exp(v) - 1 - v
	}
	return 0.5 * s
}

// logMeanExp is log (1/K) sum_k e^(v_k), computed without overflow.
func logMeanExp(v []float64) float64 {
	return nn.LogSumExp(v) - math.Log(float64(len(v)))
}
