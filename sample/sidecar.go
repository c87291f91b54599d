package sample

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/scoregen/scoregen/internal/atomicfile"
)

// Shard is shard K of N: the K-th of N contiguous ranges of the run's
// batches (see Range).
type Shard struct{ K, N int }

// ParseShard reads "k/n" with 0 <= k < n.
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 0 || k >= n {
		return Shard{}, fmt.Errorf("--shard %q: want k/n with 0 <= k < n, as 0/2 and 1/2", s)
	}
	return Shard{k, n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Range is the images [first, end) of shard s of a run of n images in
// batches of `batch`. The run's batches are images [j*batch, (j+1)*batch)
// (the last one cut at n), and shard k of m takes batches k*nb/m to
// (k+1)*nb/m - 1 of the nb: a contiguous range of whole batches, so that
// every batch of a sharded run is a batch of the unsharded one.
func Range(n, batch int, s Shard) (first, end int, err error) {
	nb := (n + batch - 1) / batch
	if s.N > nb {
		return 0, 0, fmt.Errorf("--shard %s: %d images in batches of %d make only %d batches, fewer than %d shards", s, n, batch, nb, s.N)
	}
	return s.K * nb / s.N * batch, min((s.K+1)*nb/s.N*batch, n), nil
}

// Args are everything a run's images depend on. A .npy's sidecar records
// them, so that a resumed run and a merge can check that they continue or
// combine the same run.
type Args struct {
	Weights string  `json:"weights"` // fingerprint of the weights sampled with
	Step    string  `json:"checkpoint_step"`
	EMA     bool    `json:"ema"`
	Device  string  `json:"device"`
	Sampler string  `json:"sampler"`
	Steps   int     `json:"steps"`
	SNR     float64 `json:"snr"`
	Eps     float64 `json:"eps"`
	RTol    float64 `json:"rtol,omitempty"` // ode's; absent in runs before it existed
	ATol    float64 `json:"atol,omitempty"`
	Eta     float64 `json:"eta"` // 0 is a value: no omitempty, so that a resume compares it
	// LangevinSteps and StepLR are annealed-langevin's.
	LangevinSteps int     `json:"langevin_steps,omitempty"`
	StepLR        float64 `json:"step_lr,omitempty"`
	// Class and Guidance are a class-conditional model's, and absent for
	// another (pointers, so that class 0 and guidance 0 are recorded).
	Class    *int     `json:"class,omitempty"`
	Guidance *float64 `json:"guidance,omitempty"`
	Seed     uint64   `json:"seed"`
	N        int      `json:"n"`
	Batch    int      `json:"batch"`
	Shard    string   `json:"shard"`
	Shape    []int    `json:"shape"` // C, H, W of one image
}

// Sidecar is the JSON file next to a .npy (its name plus ".json"): the
// run's arguments, the images the file holds, and how many of them are
// complete. It is rewritten atomically after each batch.
type Sidecar struct {
	Args
	First int `json:"first"` // the file holds images [First, End) of the run
	End   int `json:"end"`
	Done  int `json:"done"` // images First to First+Done-1 are complete
}

// sidecarPath is the sidecar of the .npy at path.
func sidecarPath(npy string) string { return npy + ".json" }

// readSidecar reads the sidecar of npy; it returns nil and no error when
// there is none.
func readSidecar(npy string) (*Sidecar, error) {
	p := sidecarPath(npy)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Sidecar
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: not a sampling run's record: %w", p, err)
	}
	if s.First < 0 || s.End < s.First || s.Done < 0 || s.Done > s.End-s.First || s.End > s.N || len(s.Shape) != 3 {
		return nil, fmt.Errorf("%s: images %d to %d of %d with %d done, shape %v: inconsistent", p, s.First, s.End, s.N, s.Done, s.Shape)
	}
	return &s, nil
}

// write stores s as npy's sidecar, atomically.
func (s *Sidecar) write(npy string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(sidecarPath(npy), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// diff names the first key (as in the JSON) whose value differs between a
// and b, skipping the keys in skip, or returns "" if none does.
func diff(a, b Args, skip ...string) (key string, va, vb any) {
	ma, mb := toMap(a), toMap(b)
	keys := make([]string, 0, len(ma))
	for k := range ma {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(skip, k) {
			continue
		}
		if x, y := fmt.Sprint(ma[k]), fmt.Sprint(mb[k]); x != y {
			return k, ma[k], mb[k]
		}
	}
	return "", nil, nil
}

func toMap(a Args) map[string]any {
	b, _ := json.Marshal(a) // Args always marshals
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
