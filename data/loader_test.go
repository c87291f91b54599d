package data

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomDataset has n random images of c×h×w; with these sizes no two
// images, nor an image and a mirrored one, are equal.
func randomDataset(n, c, h, w int) *Dataset {
	r := rand.New(rand.NewPCG(1, 2))
	ds := &Dataset{Name: "random", N: n, C: c, H: h, W: w,
		Pixels: make([]uint8, n*c*h*w), Labels: make([]uint8, n)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(r.Uint32())
	}
	for i := range ds.Labels {
		ds.Labels[i] = uint8(i % 10)
	}
	return ds
}

func mirror(img []uint8, w int) []uint8 {
	out := make([]uint8, len(img))
	for row := 0; row < len(img); row += w {
		for x := range w {
			out[row+x] = img[row+w-1-x]
		}
	}
	return out
}

// seen is one image as it came out of a batch.
type seen struct {
	index   int // in the data set
	flipped bool
}

// identify maps each image of a batch back to the data set: it checks
// that every value is exactly x/127.5-1 of a pixel byte x, and which image
// (and orientation) those bytes are.
func identify(t *testing.T, ds *Dataset, batch []float32) []seen {
	t.Helper()
	n := ds.C * ds.H * ds.W
	orig := map[string]int{}
	flip := map[string]int{}
	for i := range ds.N {
		img := ds.Pixels[i*n : (i+1)*n]
		orig[string(img)] = i
		flip[string(mirror(img, ds.W))] = i
	}
	var out []seen
	for j := 0; j < len(batch); j += n {
		img := make([]uint8, n)
		for k, v := range batch[j : j+n] {
			if v < -1 || v > 1 {
				t.Fatalf("value %v outside [-1, 1]", v)
			}
			x := math.Round(float64(v+1) * 127.5)
			img[k] = uint8(x)
			if float32(img[k])/127.5-1 != v {
				t.Fatalf("value %v is not x/127.5-1 of a byte x", v)
			}
		}
		if i, ok := orig[string(img)]; ok {
			out = append(out, seen{i, false})
		} else if i, ok := flip[string(img)]; ok {
			out = append(out, seen{i, true})
		} else {
			t.Fatalf("batch image %d is no image of the data set, nor a mirrored one", j/n)
		}
	}
	return out
}

func newLoader(t *testing.T, ds *Dataset, batch int, seed uint64, flip bool) *Loader {
	t.Helper()
	l, err := NewLoader(ds, batch, seed, flip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func next(t *testing.T, l *Loader) []float32 {
	t.Helper()
	dst := make([]float32, l.batch*l.imgLen)
	if err := l.Next(dst, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestLoaderEpochIsAPermutation(t *testing.T) {
	ds := randomDataset(53, 3, 4, 5)
	const batch = 8 // 6 batches per epoch, 5 images dropped
	l := newLoader(t, ds, batch, 7, false)
	if l.BatchesPerEpoch() != 6 {
		t.Fatalf("%d batches per epoch, expected 6", l.BatchesPerEpoch())
	}
	var orders [][]int
	for epoch := range 3 {
		count := make([]int, ds.N)
		var order []int
		for b := range 6 {
			if p := l.Position(); p != (Position{epoch, b}) {
				t.Fatalf("position %+v, expected epoch %d batch %d", p, epoch, b)
			}
			for _, s := range identify(t, ds, next(t, l)) {
				if s.flipped {
					t.Fatal("an image was flipped with flip off")
				}
				count[s.index]++
				order = append(order, s.index)
			}
		}
		if p := l.Position(); p != (Position{epoch + 1, 0}) {
			t.Fatalf("after an epoch the position is %+v, expected epoch %d batch 0", p, epoch+1)
		}
		for i, c := range count {
			if c > 1 {
				t.Fatalf("epoch %d: image %d appears %d times", epoch, i, c)
			}
		}
		if len(order) != 48 {
			t.Fatalf("epoch %d gave %d images, expected 48", epoch, len(order))
		}
		// The images left over are those at the end of the permutation.
		perm := rand.New(rand.NewPCG(7, uint64(epoch))).Perm(ds.N)
		if !slices.Equal(order, perm[:48]) {
			t.Errorf("epoch %d does not follow the permutation of (seed, epoch)", epoch)
		}
		orders = append(orders, order)
	}
	if slices.Equal(orders[0], orders[1]) || slices.Equal(orders[1], orders[2]) {
		t.Error("two epochs in the same order")
	}
}

func TestLoaderDeterministic(t *testing.T) {
	ds := randomDataset(40, 1, 3, 4)
	a := newLoader(t, ds, 6, 42, true)
	b := newLoader(t, ds, 6, 42, true)
	c := newLoader(t, ds, 6, 43, true)
	differ := false
	for range 20 { // several epochs
		x, y, z := next(t, a), next(t, b), next(t, c)
		if !slices.Equal(x, y) {
			t.Fatal("two loaders with the same seed gave different batches")
		}
		if !slices.Equal(x, z) {
			differ = true
		}
	}
	if !differ {
		t.Error("a different seed gave the same batches")
	}
}

func TestLoaderSeekResumes(t *testing.T) {
	ds := randomDataset(30, 2, 3, 3)
	const batch = 4 // 7 batches per epoch
	orig := newLoader(t, ds, batch, 5, true)
	var positions []Position
	var batches [][]float32
	for range 25 {
		positions = append(positions, orig.Position())
		batches = append(batches, next(t, orig))
	}

	// A new loader, seeking to any saved position (through JSON, as a
	// checkpoint keeps it), continues exactly as the original did.
	resumed := newLoader(t, ds, batch, 5, true)
	for _, k := range []int{17, 0, 6, 7, 13, 24, 3} {
		js, err := json.Marshal(positions[k])
		if err != nil {
			t.Fatal(err)
		}
		var p Position
		if err := json.Unmarshal(js, &p); err != nil || p != positions[k] {
			t.Fatalf("position %+v through JSON %s: %+v, %v", positions[k], js, p, err)
		}
		if err := resumed.Seek(p); err != nil {
			t.Fatal(err)
		}
		if resumed.Position() != p {
			t.Fatalf("after Seek(%+v) the position is %+v", p, resumed.Position())
		}
		for j := k; j < min(k+9, len(batches)); j++ {
			if !slices.Equal(next(t, resumed), batches[j]) {
				t.Fatalf("after Seek(%+v), batch %d differs from the original", p, j-k)
			}
		}
	}

	// Seeking the original loader itself, mid-stream, also works.
	if err := orig.Seek(positions[9]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next(t, orig), batches[9]) {
		t.Fatal("Seek back on the same loader does not replay the batch")
	}

	for _, bad := range []Position{{-1, 0}, {0, -1}, {0, 7}, {3, 100}} {
		if err := resumed.Seek(bad); err == nil {
			t.Errorf("Seek(%+v) accepted", bad)
		}
	}
}

func TestLoaderFlip(t *testing.T) {
	ds := randomDataset(64, 3, 2, 5)
	l := newLoader(t, ds, 16, 9, true)
	flips := 0
	total := 0
	for range 2 * l.BatchesPerEpoch() {
		for _, s := range identify(t, ds, next(t, l)) { // fails on anything but an image or its mirror
			total++
			if s.flipped {
				flips++
			}
		}
	}
	if flips < total/4 || flips > 3*total/4 {
		t.Errorf("%d of %d images flipped, expected about half", flips, total)
	}

	// Whether an image is flipped depends on (seed, epoch, index in the
	// epoch) only, not on the batch size: epochs read in batches of 4 and
	// of 16 are the same stream.
	small := newLoader(t, ds, 4, 9, true)
	big := newLoader(t, ds, 16, 9, true)
	for range 2 * big.BatchesPerEpoch() {
		want := next(t, big)
		var got []float32
		for range 4 {
			got = append(got, next(t, small)...)
		}
		if !slices.Equal(got, want) {
			t.Fatal("batch size changes the epoch stream")
		}
	}
}

func TestLoaderValues(t *testing.T) {
	// Every byte value, so both ends of [-1, 1] are reached exactly.
	ds := &Dataset{Name: "ramp", N: 4, C: 1, H: 8, W: 8, Pixels: make([]uint8, 256), Labels: make([]uint8, 4)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(i)
	}
	l := newLoader(t, ds, 4, 0, false)
	got := next(t, l)
	lo, hi := slices.Min(got), slices.Max(got)
	if lo != -1 || hi != 1 {
		t.Errorf("values span [%v, %v], expected exactly [-1, 1]", lo, hi)
	}
	identify(t, ds, got)
}

// Each label handed with a batch is its image's, flipped or not, and
// after a Seek too: labels are unique here, so a label of another image
// cannot pass.
func TestLoaderLabelsFollowTheImages(t *testing.T) {
	ds := randomDataset(30, 1, 3, 4)
	for i := range ds.Labels {
		ds.Labels[i] = uint8(100 + i)
	}
	const batch = 4
	l := newLoader(t, ds, batch, 11, true)
	check := func(what string) {
		t.Helper()
		dst, labels := make([]float32, batch*ds.C*ds.H*ds.W), make([]uint8, batch)
		if err := l.Next(dst, labels); err != nil {
			t.Fatal(err)
		}
		for j, s := range identify(t, ds, dst) {
			if labels[j] != ds.Labels[s.index] {
				t.Fatalf("%s: image %d of the batch is image %d, labelled %d; got label %d", what, j, s.index, ds.Labels[s.index], labels[j])
			}
		}
	}
	for b := range 3 * l.BatchesPerEpoch() {
		check(fmt.Sprintf("batch %d", b))
	}
	if err := l.Seek(Position{Epoch: 5, Batch: 3}); err != nil {
		t.Fatal(err)
	}
	for b := range 8 {
		check(fmt.Sprintf("batch %d after Seek", b))
	}
}

func TestLoaderErrors(t *testing.T) {
	ds := randomDataset(10, 1, 2, 2)
	for _, batch := range []int{0, -3, 11} {
		if _, err := NewLoader(ds, batch, 0, false); err == nil {
			t.Errorf("batch %d accepted for 10 images", batch)
		}
	}
	if _, err := NewLoader(nil, 1, 0, false); err == nil {
		t.Error("nil Dataset accepted")
	}
	short := *ds
	short.Pixels = short.Pixels[:39]
	if _, err := NewLoader(&short, 1, 0, false); err == nil {
		t.Error("Dataset with too few pixels accepted")
	}
	fewLabels := *ds
	fewLabels.Labels = fewLabels.Labels[:9]
	if _, err := NewLoader(&fewLabels, 1, 0, false); err == nil || !strings.Contains(err.Error(), "9 labels") {
		t.Errorf("Dataset with 9 labels for 10 images: err = %v", err)
	}
	unlabelled := *ds
	unlabelled.Labels = nil
	ul, err := NewLoader(&unlabelled, 2, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := ul.Next(make([]float32, 8), make([]uint8, 2)); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("labels from a data set without them: err = %v", err)
	}
	if err := ul.Next(make([]float32, 8), nil); err != nil {
		t.Errorf("images alone from a data set without labels: %v", err)
	}
	ul.Close()

	l, err := NewLoader(ds, 10, 0, false) // batch = N: one batch per epoch
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Next(make([]float32, 39), nil); err == nil {
		t.Error("Next accepted a destination of the wrong length")
	}
	if err := l.Next(make([]float32, 40), make([]uint8, 9)); err == nil {
		t.Error("Next accepted a label destination of the wrong length")
	}
	if err := l.Next(make([]float32, 40), nil); err != nil {
		t.Fatal(err)
	}
	if p := l.Position(); p != (Position{1, 0}) {
		t.Errorf("position %+v after the only batch of epoch 0", p)
	}
	l.Close()
	l.Close() // twice is fine
	if err := l.Next(make([]float32, 40), nil); err == nil {
		t.Error("Next after Close succeeded")
	}
	if err := l.Seek(Position{}); err == nil {
		t.Error("Seek after Close succeeded")
	}
}

func TestLoaderConcurrentUse(t *testing.T) {
	// Next, Position, Seek and Close from several goroutines: a data race
	// shows under go test -race.
	ds := randomDataset(20, 1, 4, 4)
	l := newLoader(t, ds, 3, 1, true)
	done := make(chan bool)
	for g := range 4 {
		go func() {
			dst, labels := make([]float32, 3*16), make([]uint8, 3)
			for i := range 50 {
				switch {
				case g == 0 && i%10 == 0:
					l.Seek(Position{Epoch: i, Batch: i % 6})
				default:
					l.Next(dst, labels)
					l.Position()
				}
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
	l.Close()
}

func BenchmarkLoaderCIFARShape(b *testing.B) {
	ds := randomDataset(1024, 3, 32, 32)
	l, err := NewLoader(ds, 128, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	dst := make([]float32, 128*3*32*32)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		l.Next(dst, nil)
	}
}

// Images gives the loader's pixels of the images asked for.
func TestImagesMapsPixels(t *testing.T) {
	ds := &Dataset{Name: "t", N: 3, C: 1, H: 1, W: 2, Pixels: []uint8{0, 255, 51, 102, 127, 128}, Labels: make([]uint8, 3)}
	got := make([]float32, 4)
	ds.Images(got, 1, 2)
	for i, p := range ds.Pixels[2:] {
		if want := float32(p)/127.5 - 1; got[i] != want {
			t.Fatalf("pixel %d: %v, want %v", i, got[i], want)
		}
	}
}

// ImageShape agrees with what Load reads for each set, and names an
// unknown one.
func TestImageShape(t *testing.T) {
	for name, want := range map[string][3]int{"mnist": {1, 28, 28}, "fashion": {1, 28, 28}, "cifar10": {3, 32, 32}} {
		c, h, w, err := ImageShape(name)
		if err != nil || [3]int{c, h, w} != want {
			t.Errorf("%s: %dx%dx%d, %v; want %v", name, c, h, w, err, want)
		}
	}
	if _, _, _, err := ImageShape("svhn"); err == nil || !strings.Contains(err.Error(), `"svhn"`) {
		t.Errorf("svhn: err = %v", err)
	}
}
