package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarBytes builds a CIFAR-10 batch file with the given labels; image i
// is pattern(3072, salt+i).
func cifarBytes(labels []byte, salt int) []byte {
	var b bytes.Buffer
	for i, l := range labels {
		b.WriteByte(l)
		b.Write(pattern(cifarImageBytes, salt+i))
	}
	return b.Bytes()
}

func TestReadCIFAR(t *testing.T) {
	dir := t.TempDir()
	labels := []byte{9, 0, 4}
	path := put(t, filepath.Join(dir, "data_batch_1.bin"), cifarBytes(labels, 0))
	gl, gp, err := ReadCIFAR(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gl, labels) {
		t.Errorf("labels %v, wrote %v", gl, labels)
	}
	for i := range labels {
		if !bytes.Equal(gp[i*cifarImageBytes:(i+1)*cifarImageBytes], pattern(cifarImageBytes, i)) {
			t.Errorf("image %d differs from what was written", i)
		}
	}
}

func TestReadCIFARErrors(t *testing.T) {
	dir := t.TempDir()
	good := cifarBytes([]byte{1, 2}, 0)
	cases := []struct {
		name  string
		data  []byte
		parts []string
	}{
		{"empty", nil, []string{"wrong size", "3073", "file size is 0"}},
		{"truncated", good[:len(good)-1], []string{"wrong size", "3073", "file size is 6145"}},
		{"too-long", append(append([]byte{}, good...), 0), []string{"wrong size", "file size is 6147"}},
		{"bad-label", cifarBytes([]byte{1, 10}, 0), []string{"record 1", "label 10", "expected 0..9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := put(t, filepath.Join(dir, c.name), c.data)
			_, _, err := ReadCIFAR(path)
			wantErr(t, err, append([]string{path}, c.parts...)...)
		})
	}
	// Load insists on the official record count per file.
	path := put(t, filepath.Join(dir, "three"), cifarBytes([]byte{1, 2, 3}, 0))
	_, _, err := readCIFAR(path, 10000)
	wantErr(t, err, path, "expected 30730000 bytes", "10000 records", "file size is 9219")
}

// writeCIFARSet writes the six batch files, n records each, into dir.
func writeCIFARSet(t *testing.T, dir string, n int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, name := range append(cifarFiles(true), cifarFiles(false)...) {
		labels := make([]byte, n)
		for i := range labels {
			labels[i] = byte((f + i) % 10)
		}
		put(t, filepath.Join(dir, name), cifarBytes(labels, 100*f))
	}
}

func TestLoadCIFAR(t *testing.T) {
	defer func(n int) { cifarRecordsPerFile = n }(cifarRecordsPerFile)
	cifarRecordsPerFile = 4

	parent := t.TempDir()
	batches := filepath.Join(parent, cifarFolder)
	writeCIFARSet(t, batches, 4)
	// Either the folder holding cifar-10-batches-bin or that folder itself.
	for _, dir := range []string{parent, batches} {
		train, err := Load("cifar10", dir, true)
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 20 || train.C != 3 || train.H != 32 || train.W != 32 || len(train.Pixels) != 20*3072 || len(train.Labels) != 20 {
			t.Fatalf("train split %+v shape, expected 20×3×32×32", *train)
		}
		// Record j of file f is image 4f+j: the files are read in order.
		for f := range 5 {
			for j := range 4 {
				i := 4*f + j
				if train.Labels[i] != byte((f+j)%10) || !bytes.Equal(train.Pixels[i*3072:(i+1)*3072], pattern(3072, 100*f+j)) {
					t.Fatalf("train image %d is not record %d of data_batch_%d.bin", i, j, f+1)
				}
			}
		}
		test, err := Load("cifar10", dir, false)
		if err != nil {
			t.Fatal(err)
		}
		if test.N != 4 || test.Name != "cifar10" || !bytes.Equal(test.Pixels[:3072], pattern(3072, 500)) {
			t.Errorf("test split: N=%d name %q, expected 4 images of test_batch.bin", test.N, test.Name)
		}
	}

	// A file with the wrong number of records names itself.
	bad := filepath.Join(batches, "data_batch_3.bin")
	put(t, bad, cifarBytes([]byte{1, 2, 3}, 0))
	_, err := Load("cifar10", parent, true)
	wantErr(t, err, bad, "wrong size")
}

func TestLoadCIFARMissingSaysWhere(t *testing.T) {
	dir := t.TempDir()
	_, err := Load("cifar10", dir, true)
	wantErr(t, err, filepath.Join(dir, cifarFolder), "tar -xzf cifar-10-binary.tar.gz -C "+dir, cifarTarballMD5)

	// No folder: the default cache folder.
	cache := t.TempDir()
	t.Setenv("SCOREGEN_DATA", cache)
	_, err = Load("cifar10", "", false)
	wantErr(t, err, filepath.Join(cache, cifarFolder, "test_batch.bin"))
	if strings.Contains(err.Error(), dir) {
		t.Errorf("error %q mentions the earlier folder", err)
	}
}
