package sde

import (
	"fmt"
	"math"
)

// ScoreFunc evaluates a score model s(x, t) ≈ grad_x log p_t(x) on a batch:
// x is [B*D], t is [B] (one time per sample), and it writes score [B*D].
// It must not keep x, t or score after it returns.
type ScoreFunc func(x, t, score []float32) error

// langevinAlphaer is implemented by the VP-type SDEs, whose Langevin
// corrector step is scaled by the DDPM alpha_i; for the others alpha is 1.
type langevinAlphaer interface{ langevinAlpha(t float64) float64 }

// langevinAlpha is the corrector's alpha at t: the SDE's, or 1.
func langevinAlpha(s SDE, t float64) float64 {
	if a, ok := s.(langevinAlphaer); ok {
		return a.langevinAlpha(t)
	}
	return 1
}

// sampler is one sampling run: the batch x, updated in place, and its work
// buffers.
type sampler struct {
	sde        SDE
	score      ScoreFunc
	x          []float32
	batch, dim int
	seed       uint64
	off        int       // the noise's element index of x[0]: first image * dim
	t          []float32 // [B] the current time, repeated
	grad       []float32 // [B*D] the score
	z          []float32 // [B*D] corrector noise
	norms      []float64 // [2B] per-sample ||score||, ||z||
}

// newSampler sets up a run on the batch x, whose first sample is sample
// `first` of the whole run: its noise is keyed by that global index.
func newSampler(s SDE, score ScoreFunc, x []float32, batch int, seed uint64, first int) (*sampler, error) {
	if score == nil {
		return nil, fmt.Errorf("sde: no score function")
	}
	if batch < 1 || len(x) < batch || len(x)%batch != 0 {
		return nil, fmt.Errorf("sde: batch = %d does not divide len(x) = %d into non-empty samples", batch, len(x))
	}
	dim := len(x) / batch
	off, err := NoiseOffset(first, batch, dim)
	if err != nil {
		return nil, err
	}
	return &sampler{
		sde: s, score: score, x: x, batch: batch, dim: dim, seed: seed, off: off,
		t: make([]float32, batch), grad: make([]float32, len(x)),
	}, nil
}

// NoiseOffset is the element index of the noise of sample `first`, whose
// batch of `batch` samples of dim values each draws elements off, off+1,
// ... of every draw. It fails where that would run past MaxElements.
func NoiseOffset(first, batch, dim int) (off int, err error) {
	if first < 0 || first > (MaxElements-batch*dim)/dim {
		return 0, fmt.Errorf("sde: samples %d to %d of %d values each: want 0 <= first and at most %d values in all, where the noise would repeat",
			first, first+batch-1, dim, MaxElements)
	}
	return first * dim, nil
}

// checkSDE rejects a nil SDE.
func checkSDE(s SDE) error {
	if s == nil {
		return fmt.Errorf("sde: no SDE")
	}
	return nil
}

// checkGrid validates a time grid linspace(1, eps, steps).
func checkGrid(steps int, eps float64) error {
	if steps < 1 {
		return fmt.Errorf("sde: steps = %d, want at least 1", steps)
	}
	if !(eps > 0 && eps < 1) {
		return fmt.Errorf("sde: eps = %v, want 0 < eps < 1", eps)
	}
	return nil
}

// gridTime is t_i of score_sde's timesteps = linspace(T=1, eps, steps).
func gridTime(i, steps int, eps float64) float64 {
	if steps == 1 {
		return 1
	}
	return 1 + float64(i)*(eps-1)/float64(steps-1)
}

// evalScore writes s(x, t) for every sample to w.grad.
func (w *sampler) evalScore(t float64) error {
	tt := float32(t)
	for i := range w.t {
		w.t[i] = tt
	}
	return w.score(w.x, w.t, w.grad)
}

// prior sets x to a draw from the prior N(0, PriorStd^2 I): draw 0 of
// StreamPrior.
func (w *sampler) prior() {
	Normals(w.x, w.seed, StreamPrior, 0, w.off)
	sd := w.sde.PriorStd()
	for j, v := range w.x {
		w.x[j] = float32(sd * float64(v))
	}
}

// predict is one step of score_sde's EulerMaruyamaPredictor on the
// reverse-time SDE (eq. 6), going from t to t + dt (dt < 0), with f and g
// the schedule's drift coefficient and diffusion at t:
//
//	x_mean = x + [f x - g^2 s(x, t)] dt
//	x      = x_mean + g sqrt(-dt) z,   z ~ N(0, I) (draw st.Draw of StreamPredictor)
//
// On the last step it stops at x_mean: the final denoising step, which
// keeps the sample free of the last step's noise (score_sde returns x_mean).
func (w *sampler) predict(st SamplerStep) error {
	if err := w.evalScore(st.T); err != nil {
		return err
	}
	f, dt, last := st.F, st.DT, st.Last
	g2, noise := st.G*st.G, st.G*math.Sqrt(-dt)
	x, s := w.x, w.grad
	parallel(len(x), len(x), func(lo, hi int) {
		z := newNormals(w.seed, StreamPredictor, st.Draw)
		for j := lo; j < hi; j++ {
			xj := float64(x[j])
			xm := xj + (f*xj-g2*float64(s[j]))*dt
			if !last {
				xm += noise * float64(float32(z.at(w.off+j)))
			}
			x[j] = float32(xm)
		}
	})
	return nil
}

// correct is one step of score_sde's LangevinCorrector (Algorithms 4 and 5,
// appendix G) at time t: with s = s(x, t) and z ~ N(0, I) (draw `draw` of
// StreamCorrector),
//
//	eps = 2 alpha (snr * mean_i ||z_i|| / mean_i ||s_i||)^2
//	x   = x + eps s + sqrt(2 eps) z
//
// where ||.||_i is the norm over sample i and the means run over the batch
// (score_sde's grad_norm and noise_norm), and alpha is the DDPM alpha_i of
// the discrete VP betas for VP-type SDEs and 1 otherwise.
func (w *sampler) correct(t, snr float64, draw uint64) error {
	if err := w.evalScore(t); err != nil {
		return err
	}
	if w.z == nil {
		w.z = make([]float32, len(w.x))
		w.norms = make([]float64, 2*w.batch)
	}
	Normals(w.z, w.seed, StreamCorrector, draw, w.off)
	d := w.dim
	parallel(w.batch, len(w.x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var gg, zz float64
			for j := i * d; j < (i+1)*d; j++ {
				gj, zj := float64(w.grad[j]), float64(w.z[j])
				gg += gj * gj
				zz += zj * zj
			}
			w.norms[2*i], w.norms[2*i+1] = math.Sqrt(gg), math.Sqrt(zz)
		}
	})
	var gradNorm, noiseNorm float64
	for i := range w.batch {
		gradNorm += w.norms[2*i]
		noiseNorm += w.norms[2*i+1]
	}
	gradNorm /= float64(w.batch)
	noiseNorm /= float64(w.batch)
	if !(gradNorm > 0) || math.IsInf(gradNorm, 0) {
		return fmt.Errorf("sde: Langevin corrector at t = %g: mean score norm is %v", t, gradNorm)
	}
	r := snr * noiseNorm / gradNorm
	step := 2 * langevinAlpha(w.sde, t) * r * r
	w.langevinUpdate(step, w.z)
	return nil
}

// langevinUpdate is x += step s + sqrt(2 step) z.
func (w *sampler) langevinUpdate(step float64, z []float32) {
	x, s, amp := w.x, w.grad, math.Sqrt(2*step)
	parallel(len(x), len(x), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			x[j] = float32(float64(x[j]) + step*float64(s[j]) + amp*float64(z[j]))
		}
	})
}

// SamplerStep is one network evaluation of PredictorCorrector's schedule
// and the update that follows it: what PredictorCorrector runs here, and
// what the fused CUDA sampler runs on the device. The score is taken at time T, with
// the marginal std Std (at float32(T), the time the network sees). A
// predictor step (Corrector false) is Euler-Maruyama with drift
// coefficient F, diffusion G and step DT (negative), and no noise when
// Last; a corrector step is Langevin with SNR and Alpha. Draw keys the
// step's noise in StreamPredictor or StreamCorrector; Step and Sub number
// it as PredictorCorrector's errors do.
type SamplerStep struct {
	Corrector  bool
	Step, Sub  int
	T, Std     float64
	F, G, DT   float64
	Last       bool
	SNR, Alpha float64
	Draw       uint64
}

// PCSchedule is the schedule of PredictorCorrector(s, ..., steps,
// correctorSteps, snr, eps, ...); with correctorSteps = 0, of EulerMaruyama.
func PCSchedule(s SDE, steps, correctorSteps int, snr, eps float64) ([]SamplerStep, error) {
	if err := checkPC(s, steps, correctorSteps, snr, eps); err != nil {
		return nil, err
	}
	var out []SamplerStep
	dt := -1 / float64(steps)
	for i := range steps {
		t := gridTime(i, steps, eps)
		// The score's std is taken at the float32 time that the network
		// sees, as train.ScoreModel.Score does.
		base := SamplerStep{Step: i, T: t, Std: s.Std(float64(float32(t)))}
		for j := range correctorSteps {
			c := base
			c.Corrector, c.Sub, c.SNR, c.Alpha = true, j, snr, langevinAlpha(s, t)
			c.Draw = uint64(i)*uint64(correctorSteps) + uint64(j)
			out = append(out, c)
		}
		p := base
		p.F, p.G, p.DT, p.Last, p.Draw = s.DriftCoef(t), s.Diffusion(t), dt, i == steps-1, uint64(i)
		out = append(out, p)
	}
	return out, nil
}

// EulerMaruyama samples the reverse-time SDE (eq. 6) from the prior at t = 1
// down to t = eps by score_sde's Euler–Maruyama predictor, with no
// corrector: x (len batch*D) is overwritten with the samples. The time grid
// is score_sde's linspace(1, eps, steps) and every step uses dt = -1/steps,
// as score_sde's predictor does (dt = -1/N with N = steps). The last step
// returns x_mean, without noise (the paper's denoising step). The noise is
// draw 0 of StreamPrior for x(1) and draw i of StreamPredictor at step i,
// all under seed.
//
// The batch is samples first, first+1, ... of a larger run, and element j
// of x draws element first*D + j of each draw: a sample's noise depends on
// its index in the run, not on how the run is cut into batches, so that
// batches of any size (on any number of machines) give the same samples as
// one batch, up to the score function's own dependence on the batch.
// progress, if not nil, is called after each step with the number of steps
// done.
func EulerMaruyama(s SDE, score ScoreFunc, x []float32, batch, steps int, eps float64, seed uint64, first int, progress func(i int)) error {
	return PredictorCorrector(s, score, x, batch, steps, 0, 0, eps, seed, first, progress)
}

// PredictorCorrector is score_sde's pc_sampler with the Euler–Maruyama
// predictor and the Langevin corrector (Algorithm 1; Algorithms 4-5): at each
// time t_i of linspace(1, eps, steps) it first runs correctorSteps Langevin
// corrector steps at t_i with signal-to-noise ratio snr (see
// LangevinCorrector; step j draws i*correctorSteps + j of StreamCorrector),
// then one predictor step as EulerMaruyama, and it returns the last
// predictor step's x_mean. With correctorSteps = 0 it is EulerMaruyama.
// The noise is keyed by each sample's index in the run, as EulerMaruyama's;
// the corrector's step size, though, averages norms over the batch (as
// score_sde does), so with correctors a sample depends on its batch too.
// score_sde always samples with steps = s.N(), which the corrector's alpha
// assumes.
func PredictorCorrector(s SDE, score ScoreFunc, x []float32, batch, steps, correctorSteps int, snr, eps float64, seed uint64, first int, progress func(i int)) error {
	return predictorCorrector(s, score, x, batch, steps, correctorSteps, snr, eps, seed, first, nil, progress)
}

// Known is what inpainting keeps of the data: the clean images (like x)
// and a mask of the same size, 1 where a value is known and 0 where the
// sampler fills it in.
type Known struct {
	Data, Mask []float32
	// channels > 0 is colorisation (Colorize): what is known of each
	// pixel is its channels' mean, and Mask is not read.
	channels int
}

// Inpaint fills in the unknown values of the batch known.Data (samples
// first, first+1, ... of a run) by PredictorCorrector's sampler, as
// score_sde's pc_inpainter (Song et al. 2021, appendix I.2): it starts
// from the data where known and the prior elsewhere, and after each
// predictor and corrector step at time t replaces the known values by the
// data noised to t, Mean(t) data + Std(t) z (z draw k of StreamInpaint,
// k counting the steps), the last step by the data's mean Mean(t) data. x
// receives the result.
func Inpaint(s SDE, score ScoreFunc, x []float32, batch, steps, correctorSteps int, snr, eps float64, seed uint64, first int, known Known, progress func(i int)) error {
	if len(known.Data) != len(x) || len(known.Mask) != len(x) {
		return fmt.Errorf("sde: inpainting %d values with %d of data and %d of mask", len(x), len(known.Data), len(known.Mask))
	}
	return predictorCorrector(s, score, x, batch, steps, correctorSteps, snr, eps, seed, first, &known, progress)
}

// Colorize fills in the colours of the batch gray (NCHW images of
// `channels` channels, of which only each pixel's mean over the channels
// is read) by Inpaint's sampler, as score_sde's pc_colorizer (Song et al.
// 2021, appendix I.3): in the orthonormal basis of each pixel's channels
// whose first vector is u = (1, ..., 1)/sqrt(C), the first coordinate
// u.x = sqrt(C) mean(x) is the known one, replaced after each step by the
// gray image's noised to t (its z one draw of StreamInpaint per pixel),
// and the others are sampled. The basis's other vectors need not be
// chosen: replacing one coordinate of an orthonormal basis moves x along
// u alone. x receives the result.
func Colorize(s SDE, score ScoreFunc, x []float32, batch, channels, steps, correctorSteps int, snr, eps float64, seed uint64, first int, gray []float32, progress func(i int)) error {
	if batch < 1 || channels < 2 || len(x)%(batch*channels) != 0 {
		return fmt.Errorf("sde: colorising %d values as %d images of %d channels", len(x), batch, channels)
	}
	if len(gray) != len(x) {
		return fmt.Errorf("sde: colorising %d values with %d of gray images", len(x), len(gray))
	}
	return predictorCorrector(s, score, x, batch, steps, correctorSteps, snr, eps, seed, first, &Known{Data: gray, channels: channels}, progress)
}

// predictorCorrector is PredictorCorrector, inpainting known when not nil.
func predictorCorrector(s SDE, score ScoreFunc, x []float32, batch, steps, correctorSteps int, snr, eps float64, seed uint64, first int, known *Known, progress func(i int)) error {
	sched, err := PCSchedule(s, steps, correctorSteps, snr, eps)
	if err != nil {
		return err
	}
	w, err := newSampler(s, score, x, batch, seed, first)
	if err != nil {
		return err
	}
	w.prior()
	if known != nil {
		w.keep(*known, 1, 0, 0) // the data where known, the prior elsewhere
	}
	for k, st := range sched {
		if st.Corrector {
			if err := w.correct(st.T, st.SNR, st.Draw); err != nil {
				return fmt.Errorf("sde: step %d (t = %g), corrector %d: %w", st.Step, st.T, st.Sub, err)
			}
		} else if err := w.predict(st); err != nil {
			return fmt.Errorf("sde: step %d (t = %g): %w", st.Step, st.T, err)
		}
		if known != nil {
			sd := s.Std(st.T)
			if st.Last {
				sd = 0
			}
			w.keep(*known, s.Mean(st.T), sd, uint64(k))
		}
		if !st.Corrector && progress != nil {
			progress(st.Step + 1)
		}
	}
	return nil
}

// keep sets the known values of x to m data + sd z, z draw `draw` of
// StreamInpaint (the data noised to a time t with m = Mean(t), sd =
// Std(t)).
func (w *sampler) keep(known Known, m, sd float64, draw uint64) {
	if known.channels > 0 {
		w.keepGray(known, m, sd, draw)
		return
	}
	x := w.x
	parallel(len(x), len(x), func(lo, hi int) {
		z := newNormals(w.seed, StreamInpaint, draw)
		for j := lo; j < hi; j++ {
			k := float64(known.Mask[j])
			if k == 0 {
				continue
			}
			v := m * float64(known.Data[j])
			if sd != 0 {
				v += sd * float64(float32(z.at(w.off+j)))
			}
			x[j] = float32((1-k)*float64(x[j]) + k*v)
		}
	})
}

// keepGray is keep for colorisation: each pixel's coordinate along u =
// (1, ..., 1)/sqrt(C) becomes m u.data + sd z, so its channels' mean
// becomes m mean(data) + sd z/sqrt(C), by adding the same amount to every
// channel. The pixel's z is the element of its first channel.
func (w *sampler) keepGray(known Known, m, sd float64, draw uint64) {
	x, c := w.x, known.channels
	hw := len(x) / (w.batch * c)
	parallel(len(x)/c, len(x), func(lo, hi int) {
		z := newNormals(w.seed, StreamInpaint, draw)
		for p := lo; p < hi; p++ {
			first := (p/hw)*c*hw + p%hw // the pixel's value in channel 0
			var mx, md float64
			for k := range c {
				mx += float64(x[first+k*hw])
				md += float64(known.Data[first+k*hw])
			}
			target := m * md / float64(c)
			if sd != 0 {
				target += sd * float64(float32(z.at(w.off+first))) / math.Sqrt(float64(c))
			}
			shift := target - mx/float64(c)
			for k := range c {
				x[first+k*hw] = float32(float64(x[first+k*hw]) + shift)
			}
		}
	})
}

// checkPC validates PredictorCorrector's settings.
func checkPC(s SDE, steps, correctorSteps int, snr, eps float64) error {
	if err := checkSDE(s); err != nil {
		return err
	}
	if err := checkGrid(steps, eps); err != nil {
		return err
	}
	if correctorSteps < 0 {
		return fmt.Errorf("sde: correctorSteps = %d, want at least 0", correctorSteps)
	}
	if correctorSteps > 0 && (!(snr > 0) || math.IsInf(snr, 0)) {
		return fmt.Errorf("sde: snr = %v, want a finite positive number", snr)
	}
	return nil
}

// LangevinCorrector applies one Langevin corrector step of score_sde's
// snr rule to the batch x at time t (see PredictorCorrector): the step size
// is 2 alpha (snr mean_i||z_i|| / mean_i||s_i||)^2, the norms taken per
// sample and averaged over the batch as score_sde does, with alpha =
// 1 - beta_k/N for VP and sub-VP (beta_k of linspace(beta_min, beta_max, N)
// at k = floor(t (N-1)), N = s.N()) and 1 for VE. Its noise is draw `draw`
// of StreamCorrector under seed.
func LangevinCorrector(s SDE, score ScoreFunc, x []float32, batch int, t, snr float64, seed, draw uint64) error {
	if err := checkSDE(s); err != nil {
		return err
	}
	if !(snr > 0) || math.IsInf(snr, 0) {
		return fmt.Errorf("sde: snr = %v, want a finite positive number", snr)
	}
	if !(t >= 0 && t <= 1) {
		return fmt.Errorf("sde: t = %v, want 0 <= t <= 1", t)
	}
	w, err := newSampler(s, score, x, batch, seed, 0)
	if err != nil {
		return err
	}
	return w.correct(t, snr, draw)
}

// Langevin runs steps of unadjusted Langevin dynamics on the batch x, from
// x as given: x += stepSize s(x) + sqrt(2 stepSize) z, z ~ N(0, I) (draw i
// of StreamLangevin at step i, under seed). The score is called with t = 0
// for every sample; it is meant for a time-independent score.
func Langevin(score ScoreFunc, x []float32, batch, steps int, stepSize float64, seed uint64) error {
	if steps < 0 {
		return fmt.Errorf("sde: steps = %d, want at least 0", steps)
	}
	if !(stepSize > 0) || math.IsInf(stepSize, 0) {
		return fmt.Errorf("sde: stepSize = %v, want a finite positive number", stepSize)
	}
	w, err := newSampler(nil, score, x, batch, seed, 0)
	if err != nil {
		return err
	}
	z := make([]float32, len(x))
	for i := range steps {
		if err := w.score(w.x, w.t, w.grad); err != nil {
			return fmt.Errorf("sde: Langevin step %d: %w", i, err)
		}
		Normals(z, seed, StreamLangevin, uint64(i), 0)
		w.langevinUpdate(stepSize, z)
	}
	return nil
}
