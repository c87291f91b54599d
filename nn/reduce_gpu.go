//go:build gpu

package nn

import (
	"gorgonia.org/tensor"

	"github.com/scoregen/scoregen/gpu"
)

func (o *reduceTo) ScratchGPU([]tensor.Shape) int { return 0 }

// BindGPU launches one block per output element; the block sums the
// reduced axes.
func (o *reduceTo) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	xs := c.In[0].Shape
	x, err := view4(xs)
	if err != nil {
		return nil, err
	}
	to, err := view4(keepDims(xs, c.Out.Shape))
	if err != nil {
		return nil, err
	}
	// Split x's axes into kept and reduced ones, each list padded on the
	// left to four (size 1, stride 0).
	kept, red := [2][4]int{{1, 1, 1, 1}}, [2][4]int{{1, 1, 1, 1}}
	nk, nr, stride, rn := 3, 3, 1, 1
	for i := 3; i >= 0; i-- {
		switch {
		case x[i] == 1:
		case to[i] == x[i]:
			kept[0][nk], kept[1][nk] = x[i], stride
			nk--
		default:
			red[0][nr], red[1][nr] = x[i], stride
			rn *= x[i]
			nr--
		}
		stride *= x[i]
	}
	blocks := c.Out.Size()
	d := b.D
	args := []any{c.Out.Ptr, c.In[0].Ptr, float32(o.factor),
		kept[0][1], kept[0][2], kept[0][3], kept[1][0], kept[1][1], kept[1][2], kept[1][3],
		red[0][1], red[0][2], red[0][3], red[1][0], red[1][1], red[1][2], red[1][3], rn}
	return func() error { return d.Launch("reduce_to", blocks, gpu.Threads, args...) }, nil
}

func (o *expandTo) ScratchGPU([]tensor.Shape) int { return 0 }

func (o *expandTo) BindGPU(b *gpu.Backend, c *gpu.Call) (func() error, error) {
	d, err := view4(c.Out.Shape)
	if err != nil {
		return nil, err
	}
	s, err := strides4(keepDims(c.Out.Shape, c.In[0].Shape), c.Out.Shape)
	if err != nil {
		return nil, err
	}
	n := c.Out.Size()
	return launch1(b, "expand", n, c.Out.Ptr, c.In[0].Ptr, n, float32(o.factor),
		d[1], d[2], d[3], s[0], s[1], s[2], s[3]), nil
}
