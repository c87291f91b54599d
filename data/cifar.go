package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// The binary version of CIFAR-10: each record is one label byte (0..9)
// followed by a 32×32 colour image as three 1024-byte planes, R then G then B.
const (
	cifarSide       = 32
	cifarImageBytes = 3 * cifarSide * cifarSide // 3072
	cifarRecordSize = 1 + cifarImageBytes       // 3073
	cifarClasses    = 10

	// cifarFolder is the folder that cifar-10-binary.tar.gz unpacks to.
	cifarFolder = "cifar-10-batches-bin"
	// cifarTarballMD5 is the md5 of the official cifar-10-binary.tar.gz.
	cifarTarballMD5 = "c32a1d4ab5d03f1284b67883e8d87530"
	cifarURL        = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
)

// cifarRecordsPerFile is how many records each batch file of the official
// set holds; Load insists on it. Tests lower it to work with small files.
var cifarRecordsPerFile = 10000

// cifarFiles names the batch files of the training or the test split.
func cifarFiles(train bool) []string {
	if !train {
		return []string{"test_batch.bin"}
	}
	return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
}

// ReadCIFAR reads one CIFAR-10 binary batch file and returns its labels and
// its images (3072 bytes each, R, G, B planes of 32×32). The file's size
// must be a whole, non-zero number of 3073-byte records.
func ReadCIFAR(path string) (labels, pixels []uint8, err error) {
	return readCIFAR(path, 0)
}

// readCIFAR is ReadCIFAR that also insists on wantRecords records, unless
// wantRecords is 0.
func readCIFAR(path string, wantRecords int) (labels, pixels []uint8, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	// Check the size before reading a file that cannot be right.
	if err := checkCIFARSize(path, st.Size(), wantRecords); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	return decodeCIFAR(path, b, wantRecords)
}

func checkCIFARSize(name string, size int64, wantRecords int) error {
	if wantRecords > 0 && size != int64(wantRecords)*cifarRecordSize {
		return fmt.Errorf("data: %s: wrong size: expected %d bytes (%d records of %d bytes), file size is %d",
			name, int64(wantRecords)*cifarRecordSize, wantRecords, cifarRecordSize, size)
	}
	if size == 0 || size%cifarRecordSize != 0 {
		return fmt.Errorf("data: %s: wrong size: expected a non-zero multiple of the %d-byte record (1 label + %d pixels), file size is %d",
			name, cifarRecordSize, cifarImageBytes, size)
	}
	return nil
}

// decodeCIFAR splits the records in b into labels and pixels. name is used
// in errors.
func decodeCIFAR(name string, b []byte, wantRecords int) (labels, pixels []uint8, err error) {
	if err := checkCIFARSize(name, int64(len(b)), wantRecords); err != nil {
		return nil, nil, err
	}
	n := len(b) / cifarRecordSize
	labels = make([]uint8, n)
	pixels = make([]uint8, n*cifarImageBytes)
	for i := range n {
		rec := b[i*cifarRecordSize : (i+1)*cifarRecordSize]
		if rec[0] >= cifarClasses {
			return nil, nil, fmt.Errorf("data: %s: record %d (byte offset %d) has label %d, expected 0..%d (is this CIFAR-10's binary version?)",
				name, i, i*cifarRecordSize, rec[0], cifarClasses-1)
		}
		labels[i] = rec[0]
		copy(pixels[i*cifarImageBytes:], rec[1:])
	}
	return labels, pixels, nil
}

// loadCIFAR reads the training or test split of CIFAR-10 from dir, which is
// either the cifar-10-batches-bin folder itself or the folder holding it
// (the default cache folder when dir is empty).
func loadCIFAR(dir string, train bool) (*Dataset, error) {
	if dir == "" {
		dir = DefaultCacheDir()
	}
	files := cifarFiles(train)
	batches := dir
	if _, err := os.Stat(filepath.Join(dir, files[0])); err != nil {
		batches = filepath.Join(dir, cifarFolder)
	}
	if _, err := os.Stat(filepath.Join(batches, files[0])); err != nil {
		return nil, fmt.Errorf("data: CIFAR-10 not found: expected %s (the binary version). "+
			"CIFAR-10 is never downloaded automatically: get cifar-10-binary.tar.gz (md5 %s) from %s "+
			"and unpack it with `tar -xzf cifar-10-binary.tar.gz -C %s`, so that %s/ holds data_batch_1.bin ... data_batch_5.bin and test_batch.bin",
			filepath.Join(batches, files[0]), cifarTarballMD5, cifarURL, dir, filepath.Join(dir, cifarFolder))
	}

	ds := &Dataset{Name: "cifar10", C: 3, H: cifarSide, W: cifarSide}
	ds.Labels = make([]uint8, 0, len(files)*cifarRecordsPerFile)
	ds.Pixels = make([]uint8, 0, len(files)*cifarRecordsPerFile*cifarImageBytes)
	for _, f := range files {
		labels, pixels, err := readCIFAR(filepath.Join(batches, f), cifarRecordsPerFile)
		if err != nil {
			return nil, err
		}
		ds.Labels = append(ds.Labels, labels...)
		ds.Pixels = append(ds.Pixels, pixels...)
	}
	ds.N = len(ds.Labels)
	return ds, nil
}
