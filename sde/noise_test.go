package sde

import (
	"math"
	"slices"
	"testing"

	"github.com/scoregen/scoregen/internal/philox"
)

// perturbBatch runs Perturb on a batch of b samples of d elements whose x0
// is a ramp, so that every element differs.
func perturbBatch(s SDE, b, d int, seed, step uint64, eps float64) (x0, xt, z, ts []float32) {
	x0 = make([]float32, b*d)
	for j := range x0 {
		x0[j] = float32(math.Sin(float64(j)))
	}
	xt, z, ts = make([]float32, b*d), make([]float32, b*d), make([]float32, b)
	Perturb(s, x0, xt, z, ts, b, seed, step, eps)
	return
}

// b*d is large enough that Perturb splits the batch across goroutines, and
// d is odd so that Philox blocks straddle samples.
const pb, pd, peps = 4096, 37, 1e-3

func TestPerturbDeterministic(t *testing.T) {
	s := testSDEs(t)[1]
	_, xt1, z1, t1 := perturbBatch(s, pb, pd, 42, 7, peps)
	_, xt2, z2, t2 := perturbBatch(s, pb, pd, 42, 7, peps)
	if !slices.Equal(xt1, xt2) || !slices.Equal(z1, z2) || !slices.Equal(t1, t2) {
		t.Error("same (seed, step) gave different outputs")
	}
	for _, c := range []struct {
		what       string
		seed, step uint64
	}{{"step", 42, 8}, {"seed", 43, 7}, {"high word of step", 42, 7 + 1<<32}, {"high word of seed", 42 + 1<<32, 7}} {
		_, _, z3, t3 := perturbBatch(s, pb, pd, c.seed, c.step, peps)
		if slices.Equal(z1, z3) || slices.Equal(t1, t3) {
			t.Errorf("changing the %s left the noise unchanged", c.what)
		}
	}
	// The first samples do not depend on the batch size.
	_, xt4, z4, t4 := perturbBatch(s, 3, pd, 42, 7, peps)
	if !slices.Equal(xt4, xt1[:3*pd]) || !slices.Equal(z4, z1[:3*pd]) || !slices.Equal(t4, t1[:3]) {
		t.Error("a batch of 3 is not a prefix of a batch of 4096")
	}
}

// TestPerturbKeying recomputes t and z from the keying that Perturb's doc
// comment gives, for a CUDA kernel to follow.
func TestPerturbKeying(t *testing.T) {
	const seed, step = 0xa5a5a5a5_00000011, 0x00000003_00000123
	s := testSDEs(t)[0]
	_, _, z, ts := perturbBatch(s, pb, pd, seed, step, peps)
	key := [2]uint32{0x00000011, 0xa5a5a5a5}
	for i := range pb {
		r := philox.Block(philox.Counter(i/4, StreamTime, 0x00000003_00000123), key)
		want := float32(peps + (1-peps)*philox.Uniform24(r[i%4]))
		if float64(want) < peps {
			want = math.Nextafter32(want, 2)
		}
		if ts[i] != want {
			t.Fatalf("t[%d] = %v, want %v", i, ts[i], want)
		}
	}
	for j := range pb * pd {
		r := philox.Block(philox.Counter(j/4, StreamNoise, 0x00000003_00000123), key)
		a, b := philox.NormalPair(r[0], r[1])
		c, d := philox.NormalPair(r[2], r[3])
		if want := float32([4]float64{a, b, c, d}[j%4]); z[j] != want {
			t.Fatalf("z[%d] = %v, want %v", j, z[j], want)
		}
	}
}

// TestPerturbStatistics checks that t ~ U(eps, 1) (range, mean and a ten-bin
// histogram) and z ~ N(0, 1) (mean, variance, fourth moment), each within
// five standard errors.
func TestPerturbStatistics(t *testing.T) {
	s := testSDEs(t)[2]
	const eps = 0.05
	_, _, z, ts := perturbBatch(s, 8*pb, pd, 1, 2, eps)
	n := float64(len(ts))
	var bins [10]int
	var sum float64
	for _, v := range ts {
		if !(float64(v) >= eps && v <= 1) {
			t.Fatalf("t = %v outside [%v, 1]", v, eps)
		}
		sum += float64(v)
		bins[min(int((float64(v)-eps)/(1-eps)*10), 9)]++
	}
	if m, sd := sum/n, (1-eps)/math.Sqrt(12); math.Abs(m-(1+eps)/2) > 5*sd/math.Sqrt(n) {
		t.Errorf("mean of t = %v, want %v", m, (1+eps)/2)
	}
	for k, c := range bins {
		if math.Abs(float64(c)-n/10) > 5*math.Sqrt(n*0.1*0.9) {
			t.Errorf("bin %d of t holds %d, want %v", k, c, n/10)
		}
	}
	var s1, s2, s4 float64
	for _, v := range z {
		x := float64(v)
		s1 += x
		s2 += x * x
		s4 += x * x * x * x
	}
	m := float64(len(z))
	if mean := s1 / m; math.Abs(mean) > 5/math.Sqrt(m) {
		t.Errorf("mean of z = %v", mean)
	}
	if v := s2 / m; math.Abs(v-1) > 5*math.Sqrt(2/m) {
		t.Errorf("mean of z^2 = %v, want 1", v)
	}
	if k := s4 / m; math.Abs(k-3) > 5*math.Sqrt(96/m) {
		t.Errorf("mean of z^4 = %v, want 3", k)
	}
}

// TestPerturbClosedForm checks x_t = Mean(t) x0 + Std(t) z for each SDE with
// the t and z that Perturb returns, and that xt may alias x0.
func TestPerturbClosedForm(t *testing.T) {
	for _, s := range testSDEs(t) {
		x0, xt, z, ts := perturbBatch(s, 64, pd, 5, 6, peps)
		for i := range 64 {
			m, sd := s.Mean(float64(ts[i])), s.Std(float64(ts[i]))
			for j := i * pd; j < (i+1)*pd; j++ {
				want := m*float64(x0[j]) + sd*float64(z[j])
				if math.Abs(float64(xt[j])-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("%s: xt[%d] = %v, want %v", name(s), j, xt[j], want)
				}
			}
		}
		in := slices.Clone(x0)
		Perturb(s, in, in, z, ts, 64, 5, 6, peps)
		if !slices.Equal(in, xt) {
			t.Errorf("%s: in-place Perturb differs", name(s))
		}
	}
}
