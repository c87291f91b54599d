package nn

import (
	"testing"

	"gorgonia.org/tensor"
)

// oneDNN's float32 convolutions on U-Net shapes (wide enough that it picks
// its blocked layouts, so the reorders run) against the float64 im2col
// kernels: the output and both gradients.
func TestOneDNNConvolutionsMatchIm2col(t *testing.T) {
	if convLibrary != ConvOneDNN {
		t.Fatalf("float32 convolutions use %s, want %s", convLibrary, ConvOneDNN)
	}
	for _, c := range []convCase{
		{tensor.Shape{3, 32, 9, 9}, tensor.Shape{48, 32, 3, 3}, 1, 1, true},
		{tensor.Shape{2, 64, 14, 14}, tensor.Shape{64, 64, 3, 3}, 2, 1, true}, // Down
		{tensor.Shape{2, 96, 7, 7}, tensor.Shape{32, 96, 1, 1}, 1, 0, true},   // skip 1x1
		{tensor.Shape{2, 1, 28, 28}, tensor.Shape{64, 1, 3, 3}, 1, 1, true},   // conv_in
		{tensor.Shape{2, 64, 28, 28}, tensor.Shape{1, 64, 3, 3}, 1, 1, false}, // conv_out
	} {
		t.Run(c.String(), func(t *testing.T) {
			g := newConvGeom(c.x, c.w, c.stride, c.pad)
			for kind := range 3 {
				d, err := newDNNLConv(kind, g, c.bias && kind == dnnlForward)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("kind %d: %s", kind, d.impl())
			}
			got := buildTest(t, tensor.Float32, 5, c.shapes(), c.build)
			want := buildTest(t, tensor.Float64, 5, c.shapes(), c.build)
			got.run(t)
			want.run(t)
			assertClose(t, "output", f64s(t, got.out.Value()), f64s(t, want.out.Value()), 2e-6)
			for i := range got.grads {
				assertClose(t, "gradient of input "+string(rune('0'+i)), f64s(t, got.grads[i].Value()), f64s(t, want.grads[i].Value()), 2e-6)
			}
		})
	}
}
