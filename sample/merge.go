package sample

import (
	"fmt"
	"os"
	"slices"
)

// Merge combines the complete shards of one run (their .npy files, each
// with its sidecar) into out, a .npy with a sidecar as the unsharded run
// writes them, and, if gridOut is not "", its grids as Run draws them
// (gridEvery as Options.GridEvery). It checks that every sidecar records
// the same arguments but the shard, that the shards are all of one split,
// each once, and complete. out is written to out.tmp and renamed when
// complete, its sidecar written around the rename so that a crash leaves
// no record of images the .npy does not hold; memory holds one batch.
func Merge(out string, shards []string, gridOut string, gridEvery int) error {
	if len(shards) == 0 {
		return fmt.Errorf("merge: no shard files given")
	}
	if gridEvery < 0 {
		return fmt.Errorf("--grid-every %d: want at least 0", gridEvery)
	}
	sides := make([]*Sidecar, len(shards))
	seen := make([]string, len(shards))
	for i, p := range shards {
		s, err := readSidecar(p)
		if err == nil && s == nil {
			err = fmt.Errorf("%s: no such file: %s is not the output of a sampling run", sidecarPath(p), p)
		}
		if err != nil {
			return err
		}
		if s.Done != s.End-s.First {
			return fmt.Errorf("%s: %d of its %d images done; run its shard again to finish it", sidecarPath(p), s.Done, s.End-s.First)
		}
		if i == 0 {
			sides[0] = s
		}
		if key, was, now := diff(sides[0].Args, s.Args, "shard"); key != "" {
			return fmt.Errorf("%s and %s record different runs: %s is %v in the first, %v in the second", sidecarPath(shards[0]), sidecarPath(p), key, was, now)
		}
		sh, err := ParseShard(s.Shard)
		if err != nil || sh.N != len(shards) {
			return fmt.Errorf("%s: shard %q, want one of %d (the number of files given)", sidecarPath(p), s.Shard, len(shards))
		}
		if seen[sh.K] != "" {
			return fmt.Errorf("%s and %s are both shard %s", seen[sh.K], p, s.Shard)
		}
		if first, end, err := Range(s.N, s.Batch, sh); err != nil || first != s.First || end != s.End {
			return fmt.Errorf("%s: images %d to %d, but shard %s of that run is %d to %d", sidecarPath(p), s.First, s.End, s.Shard, first, end)
		}
		seen[sh.K], sides[i] = p, s
	}
	order := make([]int, len(shards))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return sides[a].First - sides[b].First })

	all := *sides[0]
	all.Shard, all.First, all.End = Shard{0, 1}.String(), 0, all.N
	tmp := npyTemp(out) // as Run removes it if a kill leaves it
	dst, err := createNPY(tmp, all.N, all.Shape)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer dst.close()
	var gs *grids
	if gridOut != "" {
		gs = &grids{out: gridOut, every: gridEvery, first: 0, end: all.N, shape: all.Shape}
	}
	dim := imageSize(all.Shape)
	x := make([]float32, all.Batch*dim)
	for _, i := range order {
		s := sides[i]
		src, err := openNPY(shards[i], s.End-s.First, s.Shape)
		if err != nil {
			return err
		}
		for j := s.First; j < s.End; j += all.Batch {
			k := min(all.Batch, s.End-j)
			err = src.read(j-s.First, x[:k*dim])
			if err == nil {
				err = dst.write(j, x[:k*dim])
			}
			if err == nil && gs != nil {
				err = addAll(gs, j, x[:k*dim], dim)
			}
			if err != nil {
				break
			}
		}
		src.close()
		if err != nil {
			return err
		}
	}
	if err := dst.close(); err != nil {
		return err
	}
	// The sidecar never claims more than the .npy at out holds, whatever
	// moment a crash picks: first it records this run with nothing done,
	// replacing any old record while the old .npy (or none) is still there;
	// then the merged .npy replaces the old one; then the sidecar records it
	// complete. Cut short in between, out's record says none of this run's
	// images are done, so a resume samples them all again (over an old .npy
	// of the same shape; another shape is an error) and a merge of it
	// refuses it as incomplete, while the merge run again completes it.
	all.Done = 0
	if err := all.write(out); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	all.Done = all.N
	return all.write(out)
}
