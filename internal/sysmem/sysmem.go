// Package sysmem says how much memory a process may still take on this
// machine: the kernel's estimate of available memory (/proc/meminfo), lowered
// to what the process's cgroup (v2 or v1) has left under its limit.
package sysmem

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Available is the bytes of memory that can still be allocated without
// swapping or meeting the container's limit.
func Available() (int64, error) { return available(os.ReadFile) }

// cgroupFiles are each cgroup version's limit, usage and statistics files,
// and the statistic of the inactive page cache that usage includes.
var cgroupFiles = []struct{ limit, usage, stat, inactive string }{
	{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"}, // v2
	{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
		"/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"}, // v1
}

func available(read func(string) ([]byte, error)) (int64, error) {
	info, err := read("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("sysmem: %w", err)
	}
	avail, err := memAvailable(info)
	if err != nil {
		return 0, err
	}
	for _, f := range cgroupFiles {
		limit, err := readInt(read, f.limit)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNoLimit) {
			continue
		}
		if err != nil {
			return 0, err
		}
		usage, err := readInt(read, f.usage)
		if err != nil {
			return 0, err
		}
		// Usage counts the page cache of files read or written, which the
		// kernel drops before it refuses memory; like kubelet's and
		// docker's working set, the inactive part of it is not counted.
		inactive, err := statInt(read, f.stat, f.inactive)
		if err != nil {
			return 0, err
		}
		avail = min(avail, max(limit-max(usage-inactive, 0), 0))
	}
	return avail, nil
}

// memAvailable is MemAvailable of /proc/meminfo, in bytes.
func memAvailable(info []byte) (int64, error) {
	for line := range bytes.Lines(info) {
		f := strings.Fields(string(line))
		if len(f) == 3 && f[0] == "MemAvailable:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sysmem: /proc/meminfo: MemAvailable %q: %w", f[1], err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("sysmem: /proc/meminfo has no MemAvailable line")
}

// errNoLimit is a cgroup limit of "max" (v2) or one beyond any machine
// (v1 writes 2^63 rounded down to a page).
var errNoLimit = errors.New("no limit")

func readInt(read func(string) ([]byte, error), path string) (int64, error) {
	b, err := read(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, errNoLimit
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysmem: %s: %q is not a byte count", path, s)
	}
	if n >= 1<<62 {
		return 0, errNoLimit
	}
	return n, nil
}

// statInt is the value of key in the cgroup statistics file path ("key
// value" lines), or 0 when the file or the key is missing (older kernels).
func statInt(read func(string) ([]byte, error), path, key string) (int64, error) {
	b, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) == 2 && f[0] == key {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sysmem: %s: %s %q is not a byte count", path, key, f[1])
			}
			return n, nil
		}
	}
	return 0, nil
}
