package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// prefetchDepth is how many finished batches may wait in the loader's
// channel ahead of Next.
const prefetchDepth = 3

// Position is where a Loader stands in its stream of batches: the next
// batch is number Batch (0-based) of epoch Epoch. It is what a checkpoint
// stores to resume the same data order.
type Position struct {
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
}

// Loader streams batches of a Dataset as float32 pixels x/127.5-1 in
// [-1, 1], NCHW, with their images' labels where the Dataset has them.
// Epoch e visits the images in a permutation drawn from a PCG generator
// seeded with (seed, e), in floor(N/batch) batches; the images left over
// are dropped for that epoch. With flip, the image at index i of
// epoch e is mirrored left-right when a hash of (seed, e, i) says so, so the
// whole stream is a function of the seed and the position alone. A
// goroutine prepares the next few batches ahead of Next.
//
// The Dataset must not change while a Loader reads it. The methods may be
// called from several goroutines, but the stream is one: each batch goes
// to one Next.
type Loader struct {
	ds       *Dataset
	batch    int    // images per batch
	seed     uint64 // of the permutations and of the flips
	flip     bool
	perEpoch int // batches per epoch
	imgLen   int // C*H*W

	mu     sync.Mutex
	pos    Position // of the batch the next Next returns
	closed bool
	pf     *prefetcher
}

// NewLoader returns a Loader over ds at position {0, 0}, with batch images
// per batch (1 ≤ batch ≤ ds.N). Close it to stop its goroutine.
func NewLoader(ds *Dataset, batch int, seed uint64, flip bool) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("data: NewLoader: nil Dataset")
	}
	if ds.N < 1 || ds.C < 1 || ds.H < 1 || ds.W < 1 {
		return nil, fmt.Errorf("data: NewLoader: data set %q has shape N=%d C=%d H=%d W=%d, expected all at least 1",
			ds.Name, ds.N, ds.C, ds.H, ds.W)
	}
	if len(ds.Pixels) != ds.N*ds.C*ds.H*ds.W {
		return nil, fmt.Errorf("data: NewLoader: data set %q has %d pixel bytes, expected N*C*H*W = %d",
			ds.Name, len(ds.Pixels), ds.N*ds.C*ds.H*ds.W)
	}
	if len(ds.Labels) != 0 && len(ds.Labels) != ds.N {
		return nil, fmt.Errorf("data: NewLoader: data set %q has %d labels, expected none or N = %d",
			ds.Name, len(ds.Labels), ds.N)
	}
	if batch < 1 || batch > ds.N {
		return nil, fmt.Errorf("data: NewLoader: batch size %d, expected 1 to %d (the images in %q)",
			batch, ds.N, ds.Name)
	}
	l := &Loader{
		ds:       ds,
		batch:    batch,
		seed:     seed,
		flip:     flip,
		perEpoch: ds.N / batch,
		imgLen:   ds.C * ds.H * ds.W,
	}
	l.pf = l.startPrefetch(Position{})
	return l, nil
}

// BatchesPerEpoch is floor(N/batch), the batches in one epoch.
func (l *Loader) BatchesPerEpoch() int { return l.perEpoch }

// Next fills dst, which must have batch*C*H*W elements, with the next
// batch, and labels, unless nil, with the class of each of its images
// (batch elements; the Dataset must have labels), and advances the
// position.
func (l *Loader) Next(dst []float32, labels []uint8) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("data: Loader.Next after Close")
	}
	if want := l.batch * l.imgLen; len(dst) != want {
		return fmt.Errorf("data: Loader.Next: destination has %d elements, expected batch*C*H*W = %d*%d = %d",
			len(dst), l.batch, l.imgLen, want)
	}
	if labels != nil {
		if len(l.ds.Labels) == 0 {
			return fmt.Errorf("data: Loader.Next: labels asked for, and data set %q has none", l.ds.Name)
		}
		if len(labels) != l.batch {
			return fmt.Errorf("data: Loader.Next: label destination has %d elements, expected the batch size %d", len(labels), l.batch)
		}
	}
	buf := <-l.pf.ready
	copy(dst, buf.x)
	if labels != nil {
		copy(labels, buf.labels)
	}
	l.pf.free <- buf
	l.pos.Batch++
	if l.pos.Batch == l.perEpoch {
		l.pos = Position{Epoch: l.pos.Epoch + 1}
	}
	return nil
}

// Position returns the position of the batch the next call to Next
// returns.
func (l *Loader) Position() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos
}

// Seek moves the loader to p, so that the next call to Next returns the
// same batch as the Next that followed Position() == p originally (with
// the same data set, batch size, seed and flip), and so on from there.
func (l *Loader) Seek(p Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("data: Loader.Seek after Close")
	}
	if p.Epoch < 0 || p.Batch < 0 || p.Batch >= l.perEpoch {
		return fmt.Errorf("data: Loader.Seek: position epoch %d batch %d, expected epoch ≥ 0 and batch 0 to %d (%d batches of %d per epoch)",
			p.Epoch, p.Batch, l.perEpoch-1, l.perEpoch, l.batch)
	}
	l.pf.stop()
	l.pos = p
	l.pf = l.startPrefetch(p)
	return nil
}

// Close stops the prefetching goroutine. Next and Seek fail afterwards;
// closing again does nothing.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.pf.stop()
	}
	return nil
}

// batchBuf is one prefetched batch: its images and, where the Dataset has
// labels, theirs.
type batchBuf struct {
	x      []float32
	labels []uint8
}

// prefetcher is one run of the prefetching goroutine. Buffers circulate:
// the goroutine takes one from free, fills it and sends it on ready; Next
// copies it out and returns it to free.
type prefetcher struct {
	ready chan batchBuf
	free  chan batchBuf
	quit  chan struct{}
	done  chan struct{}
}

func (p *prefetcher) stop() {
	close(p.quit)
	<-p.done
}

// startPrefetch starts a goroutine that fills batches from position at on.
func (l *Loader) startPrefetch(at Position) *prefetcher {
	p := &prefetcher{
		ready: make(chan batchBuf, prefetchDepth),
		free:  make(chan batchBuf, prefetchDepth+1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for range prefetchDepth + 1 {
		buf := batchBuf{x: make([]float32, l.batch*l.imgLen)}
		if len(l.ds.Labels) > 0 {
			buf.labels = make([]uint8, l.batch)
		}
		p.free <- buf
	}
	go func() {
		defer close(p.done)
		pos := at
		perm := l.permutation(pos.Epoch)
		for {
			var buf batchBuf
			select {
			case <-p.quit:
				return
			case buf = <-p.free:
			}
			l.fill(buf, perm, pos)
			select {
			case <-p.quit:
				return
			case p.ready <- buf:
			}
			pos.Batch++
			if pos.Batch == l.perEpoch {
				pos = Position{Epoch: pos.Epoch + 1}
				perm = l.permutation(pos.Epoch)
			}
		}
	}()
	return p
}

// permutation is the order in which epoch visits the images.
func (l *Loader) permutation(epoch int) []int {
	return rand.New(rand.NewPCG(l.seed, uint64(epoch))).Perm(l.ds.N)
}

// toFloat maps a pixel byte x to x/127.5-1.
var toFloat = func() (t [256]float32) {
	for x := range t {
		t[x] = float32(x)/127.5 - 1
	}
	return t
}()

// fill writes batch pos.Batch of epoch pos.Epoch, whose permutation is perm,
// into buf: the images and, where buf has room for them, their labels.
func (l *Loader) fill(buf batchBuf, perm []int, pos Position) {
	n, w := l.imgLen, l.ds.W
	for j := range l.batch {
		k := pos.Batch*l.batch + j // index in the epoch
		if buf.labels != nil {
			buf.labels[j] = l.ds.Labels[perm[k]]
		}
		src := l.ds.Pixels[perm[k]*n : (perm[k]+1)*n]
		dst := buf.x[j*n : (j+1)*n]
		if l.flip && flipped(l.seed, pos.Epoch, k) {
			for row := 0; row < n; row += w {
				for x := range w {
					dst[row+x] = toFloat[src[row+w-1-x]]
				}
			}
			continue
		}
		for i, v := range src {
			dst[i] = toFloat[v]
		}
	}
}

// flipped says whether the image at index i of epoch is mirrored: one bit
// of a hash of (seed, epoch, i), the same whatever the batch size.
func flipped(seed uint64, epoch, i int) bool {
	h := mix64(seed ^ 0x6a09e667f3bcc909)
	h = mix64(h ^ uint64(epoch))
	h = mix64(h ^ uint64(i))
	return h>>63 == 1
}

// mix64 is the finaliser of SplitMix64, a bijection that scrambles every
// input bit into every output bit.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
