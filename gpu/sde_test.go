//go:build gpu

package gpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/engine"
	"github.com/scoregen/scoregen/internal/numdiff"
	"github.com/scoregen/scoregen/sde"
)

// The noising kernel, bound by Perturb and replayed as a training plan's
// Pre, draws sde.Perturb's batch for each SDE: t bit for bit, z and x_t
// within 1e-6 of their largest magnitude (double exp and log round a last
// bit differently on the device). kernels/hostemu checks the kernel's
// arithmetic on the CPU; this checks Perturb's launch: the arguments'
// order and DDPM's table on the device. DDPM has few steps, so that its t
// moves far when snapped.
func TestGPUPerturbMatchesSDE(t *testing.T) {
	d, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ve, _ := sde.NewVE(0.01, 50, 1000)
	vp, _ := sde.NewVP(0.1, 20, 1000)
	subvp, _ := sde.NewSubVP(0.1, 20, 1000)
	ddpm, _ := sde.NewDDPM(0.1, 5, 10)
	const batch, dim, eps, seed = 6, 11, 1e-5, 99
	n := batch * dim
	rng := rand.New(rand.NewPCG(3, 3))
	x0 := make([]float32, n)
	for i := range x0 {
		x0[i] = float32(rng.NormFloat64())
	}
	for _, s := range []sde.SDE{ve, vp, subvp, ddpm} {
		step := uint64(12)
		xt, z, tt := make([]float32, n), make([]float32, n), make([]float32, batch)
		sde.Perturb(s, x0, xt, z, tt, batch, seed, step, eps)
		// The arena holds x0, then x_t, z and t.
		b := NewBackend(d)
		if err := b.Alloc(3*n+batch, 0); err != nil {
			t.Fatal(err)
		}
		buf := func(off int, shape ...int) Buf { return Buf{Ptr: b.arena.Add(off), Shape: tensor.Shape(shape)} }
		pre, err := b.Perturb(s.Kernel(), buf(0, batch, dim), buf(n, batch, dim), buf(2*n, batch, dim), buf(3*n, batch), eps, seed, &step)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Write(0, x0); err != nil {
			t.Fatal(err)
		}
		if err := b.Run(&engine.Plan{}, []func() error{pre}); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 2*n+batch)
		if err := b.Read(n, got); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%T", s)
		for i, ti := range got[2*n:] {
			if ti != tt[i] {
				t.Errorf("%s: t[%d] = %v on the GPU, %v from sde.Perturb", name, i, ti, tt[i])
			}
		}
		numdiff.Compare(t, name, []string{"x_t", "z"}, [][]float32{got[:n], got[n : 2*n]}, [][]float32{xt, z}, 1e-6)
	}
}

// The label drop kernel, bound by LabelDrop and replayed as a
// class-conditional training plan's Pre, draws the host's keep and null
// bit for bit: sample i's label dropped where uniform i of (seed,
// sde.StreamUncond, step) is below p, as score.DropLabels (which package
// gpu cannot import; kernels/hostemu checks the kernel against it on the
// CPU). This checks LabelDrop's launch: the arguments' order, and that
// each replay of the one captured graph reads the new step.
func TestGPUPerturbDropsLabels(t *testing.T) {
	d, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const batch, p, seed = 37, 0.3, 99
	// The arena holds keep, then null.
	b := NewBackend(d)
	if err := b.Alloc(2*batch, 0); err != nil {
		t.Fatal(err)
	}
	step := uint64(0)
	pre, err := b.LabelDrop(Buf{Ptr: b.arena, Shape: tensor.Shape{batch, 1}}, Buf{Ptr: b.arena.Add(batch), Shape: tensor.Shape{batch, 1}}, p, seed, &step)
	if err != nil {
		t.Fatal(err)
	}
	plan := &engine.Plan{}
	for _, key := range []uint64{12, 13, 1<<32 + 7} {
		step = key
		if err := b.Run(plan, []func() error{pre}); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 2*batch)
		if err := b.Read(0, got); err != nil {
			t.Fatal(err)
		}
		u := make([]float32, batch)
		sde.Uniforms(u, seed, sde.StreamUncond, key, 0)
		for i, ui := range u {
			keep := float32(1)
			if float64(ui) < p {
				keep = 0
			}
			if got[i] != keep || got[batch+i] != 1-keep {
				t.Fatalf("key %d, sample %d: keep %v, null %v on the GPU; want %v, %v (uniform %v)", key, i, got[i], got[batch+i], keep, 1-keep, ui)
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
