package sde

import (
	"fmt"
	"math"

	"github.com/scoregen/scoregen/internal/philox"
)

// Consistency models (Song, Dhariwal, Chen and Sutskever 2023, "Consistency
// models"; code: openai/consistency_models, PyTorch, and
// openai/consistency_models_cifar10, JAX) learn the consistency function
// f(x_t, t) = x_eps of the probability-flow ODE of EDM (Karras et al. 2022),
// the variance-exploding ODE dx/dt = -t grad log p_t(x) whose time is the
// noise level, t = sigma in [eps, T]: p_t is the data convolved with
// N(0, t^2 I), and every point of a trajectory maps to its end at eps.
// Consistency training (Algorithm 3) needs no diffusion model: it pulls
// f_theta(x + t_{n+1} z, t_{n+1}) towards a target network's
// f_theta-(x + t_n z, t_n) on adjacent points of a discretisation whose
// size N(k) grows over training, and theta- follows theta by an EMA whose
// rate mu(k) grows with it.
//
// Improved consistency training (Song and Dhariwal 2023, "Improved
// techniques for training consistency models", section 3)
// keeps the pair and the parametrisation and changes these: no EMA target
// (theta- = theta, mu = 0), N(k) doubling in stages (an exponential
// curriculum from s0 + 1 to s1 + 1 points), each pair's index drawn from a
// discretised lognormal on the noise level, not uniformly, the loss
// weighted by 1/(t_{n+1} - t_n), and a pseudo-Huber distance
// (PseudoHuberC). That paper's other changes (a smaller Fourier embedding
// scale, dropout) are the network's: this U-Net embeds time sinusoidally,
// and model.dropout is the experiment's.

// Consistency is one consistency model's setting: the ODE's time range,
// the parametrisation and the training schedules.
type Consistency struct {
	// Eps and T are the ODE's first and last times (sigma_min 0.002 and
	// sigma_max 80, the paper's section 5 and appendix C, EDM's).
	Eps, T float64
	// SigmaData is the data's standard deviation in the parametrisation
	// (0.5, for data in [-1, 1]).
	SigmaData float64
	// Rho spaces the discretisation's points (Karras et al.'s 7).
	Rho float64
	// S0 and S1 are N(k)'s start and end, and Mu0 the target network's
	// EMA decay at the start (appendix C, CIFAR-10: 2, 150 and 0.9).
	S0, S1 int
	Mu0    float64
	// K is the number of training steps over which N(k) grows (the
	// official code's total_training_steps).
	K int
	// Improved selects improved consistency training: N(k) in stages of
	// KPrime steps, a lognormal index with PMean and PStd (the paper's
	// -1.1 and 2.0), no EMA target; Mu0 is not read.
	Improved    bool
	PMean, PStd float64
}

// NewConsistency checks a setting.
func NewConsistency(c Consistency) (*Consistency, error) {
	switch {
	case !(c.Eps > 0) || math.IsInf(c.Eps, 0):
		return nil, fmt.Errorf("sde: consistency eps = %v, want a finite number > 0", c.Eps)
	case !(c.T > c.Eps) || math.IsInf(c.T, 0):
		return nil, fmt.Errorf("sde: consistency T = %v, want a finite number > eps (%v)", c.T, c.Eps)
	case !(c.SigmaData > 0) || math.IsInf(c.SigmaData, 0):
		return nil, fmt.Errorf("sde: consistency sigma_data = %v, want a finite number > 0", c.SigmaData)
	case !(c.Rho > 0) || math.IsInf(c.Rho, 0):
		return nil, fmt.Errorf("sde: consistency rho = %v, want a finite number > 0", c.Rho)
	case c.S0 < 2 || c.S1 < c.S0:
		return nil, fmt.Errorf("sde: consistency s0 = %d and s1 = %d, want 2 <= s0 <= s1 (a pair needs two points)", c.S0, c.S1)
	case !c.Improved && !(c.Mu0 > 0 && c.Mu0 < 1):
		return nil, fmt.Errorf("sde: consistency mu0 = %v, want 0 < mu0 < 1", c.Mu0)
	case c.K < 1:
		return nil, fmt.Errorf("sde: consistency K = %d, want at least 1", c.K)
	case c.Improved && (math.IsNaN(c.PMean) || math.IsInf(c.PMean, 0)):
		return nil, fmt.Errorf("sde: consistency p_mean = %v, want a finite number", c.PMean)
	case c.Improved && !(c.PStd > 0 && !math.IsInf(c.PStd, 0)):
		return nil, fmt.Errorf("sde: consistency p_std = %v, want a finite number > 0", c.PStd)
	case c.Improved && !(c.indexMass() > 0):
		return nil, fmt.Errorf("sde: consistency p_mean = %v, p_std = %v: the lognormal has no mass (in float64) between eps = %v and T = %v, so no pair could be drawn",
			c.PMean, c.PStd, c.Eps, c.T)
	}
	return &c, nil
}

// Scalings are the coefficients of the parametrisation at time t
// (appendix C, eq. 7 with the boundary condition; get_scalings_for_
// boundary_condition and denoise in openai/consistency_models'
// karras_diffusion.py):
//
//	f(x, t) = cSkip(t) x + cOut(t) F(cIn(t) x, cNoise(t))
//	cSkip  = sigma_data^2 / ((t - eps)^2 + sigma_data^2)
//	cOut   = sigma_data (t - eps) / sqrt(sigma_data^2 + t^2)
//	cIn    = 1 / sqrt(t^2 + sigma_data^2)
//	cNoise = ln(t) / 4
//
// so that f(x, eps) = x exactly (cSkip = 1, cOut = 0), whatever F. cNoise
// is the network's time input T, which the U-Net embeds sinusoidally at
// 1000 T (unet.Build): 1000 ln(t) / 4, what the official code feeds its
// embedding (rescaled_t = 1000 * 0.25 * log(sigma + 1e-44); the 1e-44
// only guards t = 0, which never occurs here).
func (c *Consistency) Scalings(t float64) (cSkip, cOut, cIn, cNoise float64) {
	d2, s := c.SigmaData*c.SigmaData, t-c.Eps
	r := math.Sqrt(d2 + t*t)
	return d2 / (s*s + d2), c.SigmaData * s / r, 1 / r, math.Log(t) / 4
}

// Steps is N(k), the number of discretisation points at training step k.
// Consistency training's (appendix C, Algorithm 3's adaptive schedule;
// create_ema_and_scales_fn in the official code):
//
//	N(k) = ceil(sqrt(k/K ((s1 + 1)^2 - s0^2) + s0^2) - 1) + 1,
//
// from N(0) = s0 to N(K) = s1 + 1; steps past K keep N(K). Improved
// consistency training's (section 3.4): N(k) = min(s0
// 2^floor(k/K'), s1) + 1 with K' = KPrime(), from s0 + 1 points.
func (c *Consistency) Steps(k int) int {
	if c.Improved {
		stage := max(k, 0) / c.KPrime()
		if stage >= 31 || c.S0<<stage > c.S1 {
			return c.S1 + 1
		}
		return c.S0<<stage + 1
	}
	k = min(max(k, 0), c.K)
	s0, s1 := float64(c.S0), float64(c.S1)
	return int(math.Ceil(math.Sqrt(float64(k)/float64(c.K)*((s1+1)*(s1+1)-s0*s0)+s0*s0)-1)) + 1
}

// KPrime is the length of improved consistency training's stages: K' =
// floor(K / (log2(floor(s1/s0)) + 1)), so that N doubles about log2(s1/s0)
// times and the last stage has s1 + 1 points (at least 1 step).
func (c *Consistency) KPrime() int {
	return max(int(math.Floor(float64(c.K)/(math.Log2(math.Floor(float64(c.S1)/float64(c.S0)))+1))), 1)
}

// Mu is mu(k), the target network's EMA decay at training step k
// (appendix C): mu(k) = exp(s0 ln(mu0) / N(k)), mu0 at the start and
// nearer 1 as N grows. The official code divides by N(k) - 1 instead
// (target_ema = exp(-c / scales) before its scales + 1),
// mu0^(s0/(s0-1)) at the start (mu0^2 with s0 = 2); this follows the
// paper. Improved consistency training has no EMA target (section 3.2):
// mu = 0, the target network is the online one (without its gradient).
func (c *Consistency) Mu(k int) float64 {
	if c.Improved {
		return 0
	}
	return math.Exp(float64(c.S0) * math.Log(c.Mu0) / float64(c.Steps(k)))
}

// IndexCDF is improved consistency training's distribution of the pair's
// index on n points (section 3.5): p(n_i = i) proportional to
// erf((ln t_{i+1} - PMean) / (sqrt(2) PStd)) - erf((ln t_i - PMean) /
// (sqrt(2) PStd)), the lognormal's mass between the two noise levels, as
// its cumulative sums: IndexCDF(n)[i-1] = P(n_i <= i) for i = 1, ..., n-1,
// the last exactly 1.
func (c *Consistency) IndexCDF(n int) []float64 {
	ts := c.Times(n)
	cdf := make([]float64, n-1)
	var sum float64
	for i := range cdf {
		sum += c.lognormalErf(ts[i+1]) - c.lognormalErf(ts[i])
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-2] = 1
	return cdf
}

// indexMass is the lognormal's mass between eps and T, up to a factor 2:
// IndexCDF's normaliser, the same for every grid (all share the ends).
func (c *Consistency) indexMass() float64 { return c.lognormalErf(c.T) - c.lognormalErf(c.Eps) }

// lognormalErf is erf((ln t - PMean) / (sqrt(2) PStd)): twice the
// lognormal's mass below t, less 1.
func (c *Consistency) lognormalErf(t float64) float64 {
	return math.Erf((math.Log(t) - c.PMean) / (math.Sqrt2 * c.PStd))
}

// indexOf is the index i (1-based) that the uniform u in [0, 1) draws from
// a cumulative distribution: the first i with cdf[i-1] > u.
func indexOf(cdf []float64, u float64) int {
	lo, hi := 0, len(cdf)-1 // the answer's 0-based position is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if cdf[mid] > u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo + 1
}

// PseudoHuberC is improved consistency training's c in the pseudo-Huber
// distance sqrt(||a - b||^2 + c^2) - c for images of d elements (section
// 3.3): 0.00054 sqrt(d), 0.03 for CIFAR-10's 3072.
func PseudoHuberC(d int) float64 { return 0.00054 * math.Sqrt(float64(d)) }

// PairWeight is the loss weight lambda of a pair at times tLo < tHi:
// improved consistency training's 1 / (tHi - tLo) (section 3.1), 1 for
// consistency training (the paper's lambda = 1).
func (c *Consistency) PairWeight(tHi, tLo float64) float64 {
	if c.Improved {
		return 1 / (tHi - tLo)
	}
	return 1
}

// Times are the n points t_1 = eps < t_2 < ... < t_n = T of the
// discretisation (section 5, Karras et al.'s rho spacing):
// t_i = (eps^(1/rho) + (i-1)/(n-1) (T^(1/rho) - eps^(1/rho)))^rho, Times(n)[i-1]
// being t_i. n is at least 2.
func (c *Consistency) Times(n int) []float64 {
	levels := karrasLevels(c.T, c.Eps, n-1, c.Rho)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		levels[i], levels[j] = levels[j], levels[i]
	}
	return levels
}

// TimeTable is Times(n) for every n from 2 to S1+1 (the largest N(k)),
// one after another, Times(n) from index n(n-1)/2 - 1: where
// kernels/sde.cu's ct_pair reads the pair's times, so that they are
// these exactly.
func (c *Consistency) TimeTable() []float64 {
	var table []float64
	for n := 2; n <= c.S1+1; n++ {
		table = append(table, c.Times(n)...)
	}
	return table
}

// IndexTable is IndexCDF(n) for every n from 2 to S1+1, one after
// another, IndexCDF(n) from index (n-1)(n-2)/2: where kernels/sde.cu's
// ct_pair reads improved training's index distribution. Nil for
// consistency training, whose index is uniform.
func (c *Consistency) IndexTable() []float64 {
	if !c.Improved {
		return nil
	}
	var table []float64
	for n := 2; n <= c.S1+1; n++ {
		table = append(table, c.IndexCDF(n)...)
	}
	return table
}

// Pair draws consistency training's pair of points for the clean batch x0
// ([batch*D]) on the discretisation of n points (Algorithm 3): for each
// sample i an index n_i on 1, ..., n-1 (uniform; improved training's
// IndexCDF) and for each element z ~ N(0, I), then
//
//	hi = x0 + t_{n_i+1} z,  tHi[i] = t_{n_i+1}   (the online network's)
//	lo = x0 + t_{n_i} z,    tLo[i] = t_{n_i}     (the target network's)
//
// in float64, rounded to float32. The draws are keyed as Perturb's: with u
// lane i%4 of philox((i/4, StreamIndex, step), key) (24 bits), n_i is
// 1 + floor((n-1) u) (improved: the first i with IndexCDF(n)[i-1] > u),
// z element j of the normals of (seed, StreamNoise, step),
// Perturb's own, so a step's numbers depend on (seed, step) alone. hi or lo
// may alias x0 (each element is read before either is written). It panics
// if the lengths disagree or n < 2.
func (c *Consistency) Pair(x0, hi, lo []float32, tHi, tLo []float64, n int, seed, step uint64) {
	batch := len(tHi)
	if batch < 1 || len(tLo) != batch || len(x0)%batch != 0 || len(hi) != len(x0) || len(lo) != len(x0) || n < 2 {
		panic(fmt.Sprintf("sde: consistency pair of %d points for %d and %d times, len(x0) %d, len(hi) %d, len(lo) %d",
			n, len(tHi), len(tLo), len(x0), len(hi), len(lo)))
	}
	ts := c.Times(n)
	var cdf []float64
	if c.Improved {
		cdf = c.IndexCDF(n)
	}
	d := len(x0) / batch
	key := philox.Key(seed)
	parallel(batch, len(x0), func(from, to int) {
		g := newNormals(seed, StreamNoise, step)
		for i := from; i < to; i++ {
			r := philox.Block(philox.Counter(i/4, StreamIndex, step), key)
			u := philox.Uniform24(r[i%4])
			k := 1 + int(float64(n-1)*u) // n_i, 1-based
			if cdf != nil {
				k = indexOf(cdf, u)
			}
			th, tl := ts[k], ts[k-1]
			tHi[i], tLo[i] = th, tl
			for j := i * d; j < (i+1)*d; j++ {
				x, z := float64(x0[j]), float64(float32(g.at(j)))
				hi[j], lo[j] = float32(x+th*z), float32(x+tl*z)
			}
		}
	})
}

// ConsistencyInputs are one network's inputs and coefficients for a batch
// at times t_i, whose output F gives f(x_i, t_i) = Skip + Out F: X =
// cIn(t_i) x_i and T = cNoise(t_i), the network's inputs, Skip = cSkip(t_i)
// x_i ([batch*D] each but T) and Out = cOut(t_i) ([batch]).
type ConsistencyInputs struct {
	X, T, Skip, Out []float32
}

// Inputs writes the inputs of the samples x ([batch*D]) at times t
// ([batch]) into in. x may alias in.X.
func (c *Consistency) Inputs(in ConsistencyInputs, x []float32, t []float64) {
	d := len(x) / len(t)
	for i, ti := range t {
		cSkip, cOut, cIn, cNoise := c.Scalings(ti)
		in.T[i], in.Out[i] = float32(cNoise), float32(cOut)
		for j := i * d; j < (i+1)*d; j++ {
			v := float64(x[j])
			in.Skip[j], in.X[j] = float32(cSkip*v), float32(cIn*v)
		}
	}
}

// consistencyTwoStep is where the two-step sampler's second time lies
// between T and eps in t^(1/rho): the official CIFAR-10 code's multistep
// example (openai/consistency_models_cifar10,
// editing_multistep_sampling.ipynb: ts = [0, 11, 17] on a Karras grid of
// 18 points), about t = 0.585 with eps = 0.002, T = 80 and rho = 7. That
// notebook loads a distilled (CD) model; the PyTorch code's CT runs
// (openai/consistency_models, scripts/launch.sh) use later points, tau
// about 1.9 to 5.3, found per model by ternary search on FID
// (scripts/ternary_search.py), which needs a tuning run of its own here.
const consistencyTwoStep = 11.0 / 17

// SampleTimes are the times tau_0 = T > tau_1 > ... of the multistep
// sampler in steps steps: T alone for one; for two, T and the official
// CIFAR-10 code's intermediate time (consistencyTwoStep); for more, the
// first steps points of the rho-spaced grid of steps+1 from T to eps (the
// last, eps, is where each step's f lands).
func (c *Consistency) SampleTimes(steps int) ([]float64, error) {
	switch {
	case steps < 1:
		return nil, fmt.Errorf("sde: %d consistency sampling steps, want at least 1", steps)
	case steps == 2:
		a, b := math.Pow(c.T, 1/c.Rho), math.Pow(c.Eps, 1/c.Rho)
		return []float64{c.T, math.Pow(a+consistencyTwoStep*(b-a), c.Rho)}, nil
	}
	return karrasLevels(c.T, c.Eps, steps, c.Rho)[:steps], nil
}

// ConsistencyStep is a step of multistep consistency sampling: x =
// f(x + Noise z, T), z ~ N(0, I) draw Draw of Stream, none where Noise = 0.
type ConsistencyStep struct {
	T, Noise float64
	Stream   uint32
	Draw     uint64
}

// SampleSteps are Sample's steps at the times ts (decreasing, in [eps,
// T]; SampleTimes): the first takes the prior sample ts[0] z as it is
// (z draw 0 of StreamPrior, as the other samplers' prior), and step i > 0
// adds sqrt(tau_i^2 - eps^2) z, z draw i of StreamPredictor.
func (c *Consistency) SampleSteps(ts []float64) ([]ConsistencyStep, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("sde: consistency sampling at no times")
	}
	steps := make([]ConsistencyStep, len(ts))
	for i, t := range ts {
		if !(t >= c.Eps && t <= c.T) || i > 0 && !(t < ts[i-1]) {
			return nil, fmt.Errorf("sde: consistency sampling times %v: want them decreasing, in [%v, %v]", ts, c.Eps, c.T)
		}
		steps[i] = ConsistencyStep{T: t, Noise: math.Sqrt(t*t - c.Eps*c.Eps), Stream: StreamPredictor, Draw: uint64(i)}
	}
	steps[0].Noise = 0
	return steps, nil
}

// Sample is multistep consistency sampling (Algorithm 1;
// stochastic_iterative_sampler in the official code) with the consistency
// function f (a ScoreFunc's signature: it writes f(x, t)) at the times ts
// (decreasing, in [eps, T]; SampleTimes): x = f(ts[0] z, ts[0]), then for
// each further time tau
//
//	x = f(x + sqrt(tau^2 - eps^2) z, tau),
//
// the steps of SampleSteps, their noise keyed by each sample's index in
// the run from first, as the other samplers' noise. progress, if not nil,
// is called after each step.
func (c *Consistency) Sample(f ScoreFunc, x []float32, batch int, ts []float64, seed uint64, first int, progress func(i int)) error {
	steps, err := c.SampleSteps(ts)
	if err != nil {
		return err
	}
	w, err := newSampler(nil, f, x, batch, seed, first)
	if err != nil {
		return err
	}
	Normals(x, seed, StreamPrior, 0, w.off)
	for j, z := range x {
		x[j] = float32(ts[0] * float64(z))
	}
	for i, st := range steps {
		if st.Noise != 0 {
			Normals(w.grad, seed, st.Stream, st.Draw, w.off)
			for j, z := range w.grad {
				x[j] = float32(float64(x[j]) + st.Noise*float64(z))
			}
		}
		if err := w.evalScore(st.T); err != nil {
			return fmt.Errorf("sde: consistency step %d (t = %g): %w", i, st.T, err)
		}
		copy(x, w.grad)
		if progress != nil {
			progress(i + 1)
		}
	}
	return nil
}
