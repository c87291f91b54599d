package sde

import (
	"math"
	"strings"
	"testing"
)

// TestFixedStepODEMixture samples the probability-flow ODE with Euler and
// Heun steps on Karras's time steps, with the mixture's exact score, and
// checks that they return the mixture. VE's sigma_max is 50, as in
// TestODESampleMixture.
func TestFixedStepODEMixture(t *testing.T) {
	for i, s := range testSDEs(t) {
		for _, c := range []struct {
			heun  bool
			steps int
		}{{false, 400}, {true, 40}} {
			x := make([]float32, 2*mixN)
			calls := 0
			if err := ODEEuler(s, testMixture.score(s), x, mixN, c.steps, mixEps, c.heun, uint64(i+40), 0, func(int) { calls++ }); err != nil {
				t.Fatal(err)
			}
			if calls != c.steps {
				t.Errorf("progress called %d times, want %d", calls, c.steps)
			}
			what := map[bool]string{false: "ode-euler ", true: "heun "}[c.heun] + name(s)
			checkMixture(t, what, toPoints(x))
		}
	}
}

// TestKarrasTimes checks the time steps against Karras et al.'s eq. 5: the
// noise levels at the returned times are (sigma_max^(1/7) + i/steps
// (sigma_min^(1/7) - sigma_max^(1/7)))^7, from t = 1 to eps.
func TestKarrasTimes(t *testing.T) {
	for _, s := range testSDEs(t) {
		const steps, eps = 18, 1e-3
		ts, err := KarrasTimes(s, steps, eps, KarrasRho)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != steps+1 || ts[0] != 1 || ts[steps] != eps {
			t.Fatalf("%s: times %v, want %d from 1 to %g", name(s), ts, steps+1, eps)
		}
		hi, lo := math.Pow(s.Std(1)/s.Mean(1), 1.0/7), math.Pow(s.Std(eps)/s.Mean(eps), 1.0/7)
		for i, ti := range ts {
			want := math.Pow(hi+float64(i)/steps*(lo-hi), 7)
			if got := s.Std(ti) / s.Mean(ti); math.Abs(got-want) > 1e-9*want {
				t.Errorf("%s: sigma(t_%d) = %v, want %v", name(s), i, got, want)
			}
			if i > 0 && !(ti < ts[i-1]) {
				t.Errorf("%s: times not decreasing at %d: %v", name(s), i, ts)
			}
		}
	}
}

// TestAncestralAndDDIMMixture checks the ancestral sampler (VE and VP) and
// DDIM (VP, eta 0 and 1) on the mixture with its exact score.
func TestAncestralAndDDIMMixture(t *testing.T) {
	ss := mixtureSDEs(t)
	for i, s := range ss[:2] {
		x := make([]float32, 2*mixN)
		if err := Ancestral(s, testMixture.score(s), x, mixN, mixSteps, mixEps, uint64(i+50), 0, nil); err != nil {
			t.Fatal(err)
		}
		checkMixture(t, "ancestral "+name(s), toPoints(x))
	}
	for _, c := range []struct {
		eta   float64
		steps int
	}{{0, 200}, {1, 1000}} {
		x := make([]float32, 2*mixN)
		if err := DDIM(ss[1], testMixture.score(ss[1]), x, mixN, c.steps, c.eta, mixEps, 60, 0, nil); err != nil {
			t.Fatal(err)
		}
		checkMixture(t, "DDIM eta "+map[bool]string{true: "0", false: "1"}[c.eta == 0], toPoints(x))
	}
}

// TestDiscreteSamplersRefuseOtherSDEs: ancestral is score_sde's for VE and
// VP, DDIM for VP.
func TestDiscreteSamplersRefuseOtherSDEs(t *testing.T) {
	ss := testSDEs(t)
	x := make([]float32, 4)
	score := func(x, t, s []float32) error { return nil }
	if err := Ancestral(ss[2], score, x, 2, 10, 1e-3, 1, 0, nil); err == nil {
		t.Error("ancestral accepted sub-VP")
	}
	for _, s := range []SDE{ss[0], ss[2]} {
		if err := DDIM(s, score, x, 2, 10, 0, 1e-3, 1, 0, nil); err == nil {
			t.Errorf("DDIM accepted %s", name(s))
		}
	}
	if err := DDIM(ss[1], score, x, 2, 10, -1, 1e-3, 1, 0, nil); err == nil {
		t.Error("DDIM accepted eta -1")
	}
}

// TestAnnealedLangevinMixture checks annealed Langevin dynamics on the
// mixture with its exact score (VE, sigma from 10 to 0.01): unlike plain
// Langevin, the annealing gets the modes' weights right.
func TestAnnealedLangevinMixture(t *testing.T) {
	s := mixtureSDEs(t)[0]
	x := make([]float32, 2*mixN)
	calls := 0
	if err := AnnealedLangevin(s, testMixture.score(s), x, mixN, 100, 20, 2e-5, mixEps, 70, 0, func(int) { calls++ }); err != nil {
		t.Fatal(err)
	}
	if calls != 100 {
		t.Errorf("progress called %d times, want once per level (100)", calls)
	}
	checkMixture(t, "annealed Langevin", toPoints(x))
	vp := mixtureSDEs(t)[1]
	if err := AnnealedLangevin(vp, testMixture.score(vp), x, mixN, 10, 2, 2e-5, mixEps, 70, 0, nil); err == nil {
		t.Error("annealed Langevin accepted the VP SDE")
	}
}

// TestInpaintMixture inpaints the mixture's y given its x: the modes lie
// apart in x (-3, 3 and 0), so the known x decides the mode, and the
// filled-in y must land in that mode's range (within 4 of its standard
// deviations, for 98% of the samples), while the known x comes back as
// given.
func TestInpaintMixture(t *testing.T) {
	for i, s := range mixtureSDEs(t)[:2] {
		const n = 3000
		data, mask := make([]float32, 2*n), make([]float32, 2*n)
		for k := range n {
			data[2*k] = float32(testMixture.mu[k%3][0])
			mask[2*k] = 1
		}
		x := make([]float32, 2*n)
		if err := Inpaint(s, testMixture.score(s), x, n, 2000, 1, 0.16, mixEps, uint64(i+80), 0, Known{Data: data, Mask: mask}, nil); err != nil {
			t.Fatal(err)
		}
		inMode := 0
		for k := range n {
			c := k % 3
			if math.Abs(float64(x[2*k]-data[2*k])) > 1e-3 {
				t.Fatalf("%s: known x %v came back as %v", name(s), data[2*k], x[2*k])
			}
			if math.Abs(float64(x[2*k+1])-testMixture.mu[c][1]) < 4*math.Sqrt(testMixture.cov[c][2]) {
				inMode++
			}
		}
		if share := float64(inMode) / n; share < 0.98 {
			t.Errorf("%s: %.1f%% of the inpainted y in the mode their x decides, want 98%%", name(s), 100*share)
		}
	}
	err := Inpaint(mixtureSDEs(t)[1], testMixture.score(mixtureSDEs(t)[1]), make([]float32, 4), 2, 10, 0, 0, mixEps, 1, 0, Known{Data: make([]float32, 2), Mask: make([]float32, 4)}, nil)
	if err == nil || !strings.Contains(err.Error(), "2 of data") {
		t.Errorf("data of the wrong size: %v", err)
	}
}

// TestColorizeMixture colorises the mixture's points as one-pixel images
// of two channels, whose known part is the mean (x + y)/2 = 1: that is
// inpainting in the basis u = (1, 1)/sqrt 2, v = (1, -1)/sqrt 2 with u's
// coordinate known (sqrt 2). So the colorised points must keep their mean
// and fall on either side of x = y in the shares that Inpaint gives the
// mixture rotated into that basis, with its coordinate u known. (Neither
// is the exact posterior: score_sde's replacement of the known values is
// an approximation of conditional sampling.)
func TestColorizeMixture(t *testing.T) {
	const n, gray = 3000, 1.0
	rotated := mixture{w: testMixture.w}
	for k, mu := range testMixture.mu {
		c := testMixture.cov[k]
		rotated.mu = append(rotated.mu, [2]float64{(mu[0] + mu[1]) / math.Sqrt2, (mu[0] - mu[1]) / math.Sqrt2})
		rotated.cov = append(rotated.cov, [3]float64{(c[0] + 2*c[1] + c[2]) / 2, (c[0] - c[2]) / 2, (c[0] - 2*c[1] + c[2]) / 2})
	}
	for i, s := range mixtureSDEs(t)[:2] {
		data, known, mask := make([]float32, 2*n), make([]float32, 2*n), make([]float32, 2*n)
		for k := range n {
			data[2*k], data[2*k+1] = gray, gray
			known[2*k], mask[2*k] = gray*math.Sqrt2, 1
		}
		x, y := make([]float32, 2*n), make([]float32, 2*n)
		if err := Colorize(s, testMixture.score(s), x, n, 2, 2000, 1, 0.16, mixEps, uint64(i+90), 0, data, nil); err != nil {
			t.Fatal(err)
		}
		if err := Inpaint(s, rotated.score(s), y, n, 2000, 1, 0.16, mixEps, uint64(i+95), 0, Known{Data: known, Mask: mask}, nil); err != nil {
			t.Fatal(err)
		}
		below, belowRotated := 0, 0
		for k := range n {
			if m := (x[2*k] + x[2*k+1]) / 2; math.Abs(float64(m)-gray) > 1e-3 {
				t.Fatalf("%s: point %d's channel mean is %v, want the known %v", name(s), k, m, gray)
			}
			if x[2*k] < x[2*k+1] {
				below++
			}
			if y[2*k+1] < 0 {
				belowRotated++
			}
		}
		got, want := float64(below)/n, float64(belowRotated)/n
		if math.Abs(got-want) > 0.03 {
			t.Errorf("%s: %.1f%% of the colorised points have x < y, and %.1f%% of the rotated inpainted ones", name(s), 100*got, 100*want)
		}
		t.Logf("%s: x < y for %.1f%% colorised, %.1f%% rotated and inpainted", name(s), 100*got, 100*want)
	}
	err := Colorize(mixtureSDEs(t)[1], testMixture.score(mixtureSDEs(t)[1]), make([]float32, 4), 2, 2, 10, 0, 0, mixEps, 1, 0, make([]float32, 2), nil)
	if err == nil || !strings.Contains(err.Error(), "2 of gray") {
		t.Errorf("gray images of the wrong size: %v", err)
	}
}
