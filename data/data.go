// Package data provides the training images: it fetches and verifies MNIST
// and Fashion-MNIST (idx files), reads CIFAR-10 (binary batches), and
// streams shuffled, optionally flipped batches of float32 pixels in [-1, 1].
package data

import (
	"fmt"
	"path/filepath"
)

// Dataset is a whole split of a data set in memory.
type Dataset struct {
	Name       string // "mnist", "fashion" or "cifar10"
	N, C, H, W int    // images, channels, rows, columns
	// Pixels holds the N images, N*C*H*W bytes in NCHW order.
	Pixels []uint8
	// Labels holds the class of each image, 0..9.
	Labels []uint8
}

// Load reads the training (train) or test split of the data set name:
// "mnist", "fashion" or "cifar10".
//
// For "mnist" and "fashion", dir is the folder that holds the four idx
// files (raw or gzip, named as published, e.g. train-images-idx3-ubyte or
// train-images-idx3-ubyte.gz, which must be gzip) or the folder holding
// that one as a sub-folder named "mnist" or "fashion"; an empty dir means
// Fetch(name, DefaultCacheDir()). The md5 of each file read is checked
// against the published one, once: the result is recorded in the folder.
//
// For "cifar10", dir is the cifar-10-batches-bin folder of the binary
// version, or the folder that holds it (DefaultCacheDir() when empty).
func Load(name, dir string, train bool) (*Dataset, error) {
	if name == "cifar10" {
		return loadCIFAR(dir, train)
	}
	set, ok := idxSets[name]
	if !ok {
		return nil, fmt.Errorf("data: unknown data set %q: expected mnist, fashion or cifar10", name)
	}
	if dir == "" {
		d, err := Fetch(name, "")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return loadIDX(set, dir, train)
}

// loadIDX reads one split of an idx data set from dir (or dir/set.name),
// verifying its two files.
func loadIDX(set *idxSet, dir string, train bool) (*Dataset, error) {
	which := testFiles
	if train {
		which = trainFiles
	}
	checks, err := set.checks(dir, which)
	if err != nil {
		sub := filepath.Join(dir, set.name)
		var err2 error
		if checks, err2 = set.checks(sub, which); err2 != nil {
			return nil, fmt.Errorf("data: %s not found: expected %s and %s (each raw or .gz) in %s or in %s; "+
				"leave the data folder empty to fetch it (from the %s) into %s",
				set.title, set.files[which[0]].file, set.files[which[1]].file, dir, sub,
				set.source, filepath.Join(DefaultCacheDir(), set.name))
		}
		dir = sub
	}
	if err := verify(dir, checks); err != nil {
		return nil, err
	}

	imagesPath := filepath.Join(dir, checks[0].file)
	labelsPath := filepath.Join(dir, checks[1].file)
	n, h, w, pixels, err := ReadIDXImages(imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, fmt.Errorf("data: %s holds %d labels, expected %d, one for each image of %s",
			labelsPath, len(labels), n, imagesPath)
	}
	return &Dataset{Name: set.name, N: n, C: 1, H: h, W: w, Pixels: pixels, Labels: labels}, nil
}

// Images writes images [first, first+n) of ds into dst as the loader's
// batches hold them: float32 pixels x/127.5-1 in [-1, 1], NCHW, unflipped.
func (ds *Dataset) Images(dst []float32, first, n int) {
	size := ds.C * ds.H * ds.W
	for i, v := range ds.Pixels[first*size : (first+n)*size] {
		dst[i] = toFloat[v]
	}
}

// ImageShape is the channels, height and width of the images of the data
// set name: 1x28x28 for mnist and fashion, 3x32x32 for cifar10.
func ImageShape(name string) (c, h, w int, err error) {
	switch name {
	case "mnist", "fashion":
		return 1, 28, 28, nil
	case "cifar10":
		return 3, 32, 32, nil
	}
	return 0, 0, 0, fmt.Errorf("unknown data set %q (want mnist, fashion or cifar10)", name)
}
