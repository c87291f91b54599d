package sde

import (
	"fmt"
	"math"
)

// Samplers that step between noise levels of the forward process rather
// than integrating the reverse SDE: score_sde's ancestral (reverse-
// diffusion) predictor for VE and VP, and DDIM (Song, Meng and Ermon 2021)
// for VP. Both run on the time grid of EulerMaruyama, linspace(1, eps,
// steps), each step going from one grid time to the next; the last step
// goes to the clean data (t = 0: VE's sigma = 0, VP's alpha-bar = 1) with no
// noise, which is the denoising step EulerMaruyama ends with.

// vpType reports whether s is VP or its discrete form DDPM, whose steps
// are written in abar = Mean^2.
func vpType(s SDE) bool {
	switch s.(type) {
	case *VP, *DDPM:
		return true
	}
	return false
}

// nextLevel is the time a step from grid time i goes to, and whether it is
// the last step (to the clean data).
func nextLevel(i, steps int, eps float64) (t float64, last bool) {
	if i == steps-1 {
		return 0, true
	}
	return gridTime(i+1, steps, eps), false
}

// Ancestral samples by score_sde's ancestral sampling predictor (appendix
// F; its AncestralSamplingPredictor) with the network's score s at grid
// time t_i and the next level t_n, z ~ N(0, I) (draw i of StreamPredictor):
//
//	VE: x = x + (sigma_i^2 - sigma_n^2) s + sqrt(sigma_n^2 (sigma_i^2 - sigma_n^2) / sigma_i^2) z
//	VP: x = (x + beta s) / sqrt(1 - beta) + sqrt(beta) z,  1 - beta = abar_i / abar_n
//
// where score_sde takes sigma and beta from its N discrete levels, this
// takes them from the grid's consecutive times: with steps = N the same
// levels for VE and DDPM, and for VP within about 1% of score_sde's
// betas (1 - abar_i/abar_n over a step against linspace(beta_min/N,
// beta_max/N, N)). The last step adds no noise. The noise is keyed as
// EulerMaruyama's, so a sample does not depend on its batch. Sub-VP has no
// ancestral step in score_sde and is refused.
func Ancestral(s SDE, score ScoreFunc, x []float32, batch, steps int, eps float64, seed uint64, first int, progress func(i int)) error {
	if err := checkSDE(s); err != nil {
		return err
	}
	sched, err := AncestralSchedule(s, steps, eps)
	if err != nil {
		return err
	}
	return SampleLevels(s, score, x, batch, sched, seed, first, progress)
}

// AncestralSchedule is Ancestral's steps.
func AncestralSchedule(s SDE, steps int, eps float64) ([]LevelStep, error) {
	_, ve := s.(*VE)
	if !ve && !vpType(s) {
		return nil, fmt.Errorf("sde: the ancestral sampler is for VE, VP and DDPM (score_sde's and Ho et al.'s), not %T", s)
	}
	return levelSchedule(s, steps, eps, func(ti, tn float64) (a, b, c float64) {
		if ve {
			si, sn := s.Std(ti), 0.0
			if tn > 0 {
				sn = s.Std(tn)
			}
			d := si*si - sn*sn
			return 1, d, math.Sqrt(sn * sn * d / (si * si))
		}
		r := s.Mean(ti) / s.Mean(tn) // sqrt(1 - beta)
		beta := 1 - r*r
		return 1 / r, beta / r, math.Sqrt(beta)
	})
}

// DDIM samples a VP SDE by DDIM (Song, Meng and Ermon 2021, eq. 12) with
// abar(t) = Mean(t)^2: from grid time t_i to the next level t_n, with
// eps_hat = -Std(t_i) s the predicted noise,
//
//	x0    = (x - sqrt(1 - abar_i) eps_hat) / sqrt(abar_i)
//	sigma = eta sqrt((1 - abar_n) / (1 - abar_i)) sqrt(1 - abar_i / abar_n)
//	x     = sqrt(abar_n) x0 + sqrt(1 - abar_n - sigma^2) eps_hat + sigma z
//
// z ~ N(0, I) (draw i of StreamPredictor). eta = 0 is deterministic (an
// Euler step of the probability-flow ODE in its own variables); eta = 1 is
// DDPM's ancestral step with the posterior's variance. The last step, to
// abar = 1, returns x0.
func DDIM(s SDE, score ScoreFunc, x []float32, batch, steps int, eta, eps float64, seed uint64, first int, progress func(i int)) error {
	if err := checkSDE(s); err != nil {
		return err
	}
	sched, err := DDIMSchedule(s, steps, eta, eps)
	if err != nil {
		return err
	}
	return SampleLevels(s, score, x, batch, sched, seed, first, progress)
}

// DDIMSchedule is DDIM's steps.
func DDIMSchedule(s SDE, steps int, eta, eps float64) ([]LevelStep, error) {
	if !vpType(s) {
		return nil, fmt.Errorf("sde: DDIM is for the VP SDE and DDPM, not %T", s)
	}
	if !(eta >= 0) || math.IsInf(eta, 0) {
		return nil, fmt.Errorf("sde: eta = %v, want a finite number >= 0", eta)
	}
	return levelSchedule(s, steps, eps, func(ti, tn float64) (a, b, c float64) {
		mi, mn := s.Mean(ti), s.Mean(tn)
		ai, an := mi*mi, mn*mn
		si := math.Sqrt(1 - ai)
		sigma := eta * math.Sqrt((1-an)/(1-ai)*(1-ai/an))
		dir := math.Sqrt(max(0, 1-an-sigma*sigma))
		// x' = mn (x + si^2 s) / mi - dir si s + sigma z, as eps_hat = -si s.
		return mn / mi, mn*si*si/mi - dir*si, sigma
	})
}

// LevelStep is one step of a level sampler (Ancestral, DDIM,
// AnnealedLangevin) at grid time T: x = A x + B s(x, T) + C z, z draw Draw
// of Stream, no noise where C = 0. Std is the marginal std at the float32
// time that the network sees (the score is -eps_hat/Std), as PCSchedule's.
// Step numbers the step (a noise level, which AnnealedLangevin takes in
// several steps) in errors and progress.
type LevelStep struct {
	Step    int
	T, Std  float64
	A, B, C float64
	Stream  uint32
	Draw    uint64
}

// levelSchedule is the steps of a level sampler whose step from grid time
// t_i to the next level t_n has (a, b, c) = coef(t_i, t_n).
func levelSchedule(s SDE, steps int, eps float64, coef func(ti, tn float64) (a, b, c float64)) ([]LevelStep, error) {
	if err := checkGrid(steps, eps); err != nil {
		return nil, err
	}
	sched := make([]LevelStep, steps)
	for i := range steps {
		t := gridTime(i, steps, eps)
		tn, last := nextLevel(i, steps, eps)
		a, b, c := coef(t, tn)
		if last {
			c = 0
		}
		sched[i] = levelStep(s, i, t, a, b, c, StreamPredictor, uint64(i))
	}
	return sched, nil
}

// levelStep is step i of a level schedule at time t.
func levelStep(s SDE, i int, t, a, b, c float64, stream uint32, draw uint64) LevelStep {
	return LevelStep{Step: i, T: t, Std: s.Std(float64(float32(t))), A: a, B: b, C: c, Stream: stream, Draw: draw}
}

// SampleLevels runs a level sampler's schedule (AncestralSchedule's,
// DDIMSchedule's, AnnealedLangevinSchedule's) on the batch x from the
// prior, calling progress, if not nil, with Step+1 after the last entry
// of each Step.
func SampleLevels(s SDE, score ScoreFunc, x []float32, batch int, sched []LevelStep, seed uint64, first int, progress func(i int)) error {
	w, err := newSampler(s, score, x, batch, seed, first)
	if err != nil {
		return err
	}
	w.prior()
	for i, st := range sched {
		if err := w.evalScore(st.T); err != nil {
			return fmt.Errorf("sde: step %d (t = %g): %w", st.Step, st.T, err)
		}
		x, g := w.x, w.grad
		parallel(len(x), len(x), func(lo, hi int) {
			z := newNormals(w.seed, st.Stream, st.Draw)
			for j := lo; j < hi; j++ {
				v := st.A*float64(x[j]) + st.B*float64(g[j])
				if st.C != 0 {
					v += st.C * float64(float32(z.at(w.off+j)))
				}
				x[j] = float32(v)
			}
		})
		if progress != nil && EndsStep(sched, i) {
			progress(st.Step + 1)
		}
	}
	return nil
}

// EndsStep reports whether sched[i] is the last entry of its Step.
func EndsStep(sched []LevelStep, i int) bool {
	return i == len(sched)-1 || sched[i+1].Step != sched[i].Step
}

// AnnealedLangevin samples a VE SDE by annealed Langevin dynamics (Song
// and Ermon 2019, Algorithm 1): at each noise level sigma_i = Std(t_i) of
// the grid linspace(1, eps, levels), from the largest down, stepsEach
// steps of
//
//	x = x + alpha_i / 2 s(x, t_i) + sqrt(alpha_i) z,  alpha_i = stepLR sigma_i^2 / sigma_L^2
//
// (z ~ N(0, I), draw i*stepsEach + k of StreamLangevin), then the
// denoising step x + sigma_L^2 s(x, t_L) of NCSNv2 (Song and Ermon 2020),
// as the other samplers end on the denoised mean. It starts from the prior
// N(0, sigma_max^2 I). progress, if not nil, is called after each level.
func AnnealedLangevin(s SDE, score ScoreFunc, x []float32, batch, levels, stepsEach int, stepLR, eps float64, seed uint64, first int, progress func(i int)) error {
	if err := checkSDE(s); err != nil {
		return err
	}
	sched, err := AnnealedLangevinSchedule(s, levels, stepsEach, stepLR, eps)
	if err != nil {
		return err
	}
	return SampleLevels(s, score, x, batch, sched, seed, first, progress)
}

// AnnealedLangevinSchedule is AnnealedLangevin's steps: stepsEach for
// each level, Step the level, and the denoising step in the last level.
func AnnealedLangevinSchedule(s SDE, levels, stepsEach int, stepLR, eps float64) ([]LevelStep, error) {
	if _, ve := s.(*VE); !ve {
		return nil, fmt.Errorf("sde: annealed Langevin dynamics is for the VE SDE (NCSN's noise levels), not %T", s)
	}
	if err := checkGrid(levels, eps); err != nil {
		return nil, err
	}
	if stepsEach < 1 {
		return nil, fmt.Errorf("sde: %d Langevin steps per noise level, want at least 1", stepsEach)
	}
	if !(stepLR > 0) || math.IsInf(stepLR, 0) {
		return nil, fmt.Errorf("sde: Langevin step size %v, want a finite positive number", stepLR)
	}
	tL := gridTime(levels-1, levels, eps)
	last := s.Std(tL)
	sched := make([]LevelStep, 0, levels*stepsEach+1)
	for i := range levels {
		t := gridTime(i, levels, eps)
		sigma := s.Std(t)
		step := stepLR * sigma * sigma / (last * last) / 2 // alpha_i / 2
		for k := range stepsEach {
			sched = append(sched, levelStep(s, i, t, 1, step, math.Sqrt(2*step), StreamLangevin, uint64(i*stepsEach+k)))
		}
	}
	return append(sched, levelStep(s, levels-1, tL, 1, last*last, 0, StreamLangevin, 0)), nil
}
