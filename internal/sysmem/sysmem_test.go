package sysmem

import (
	"io/fs"
	"strings"
	"testing"
)

const meminfo = "MemTotal:       24683548 kB\nMemFree:         1000000 kB\nMemAvailable:   23949872 kB\n"

func files(m map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		if s, ok := m[path]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist} // as os.ReadFile
	}
}

func TestAvailable(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no cgroup", map[string]string{"/proc/meminfo": meminfo}, 23949872 << 10},
		{"v2 without a limit", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "5000\n"}, 23949872 << 10},
		{"v2 limit below the machine", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory.max": "4294967296\n", "/sys/fs/cgroup/memory.current": "1073741824\n"}, 3 << 30},
		// Page cache of a data set read: usage 3.5 GiB, of which 2.5 GiB
		// inactive file pages the kernel would reclaim.
		{"v2 with page cache", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory.max": "4294967296\n", "/sys/fs/cgroup/memory.current": "3758096384\n",
			"/sys/fs/cgroup/memory.stat": "anon 1073741824\nfile 2684354560\nactive_file 0\ninactive_file 2684354560\n"}, 3 << 30},
		{"v2 inactive beyond usage", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory.max": "4294967296\n", "/sys/fs/cgroup/memory.current": "1000\n",
			"/sys/fs/cgroup/memory.stat": "inactive_file 2000\n"}, 4 << 30},
		{"v2 stat without inactive_file", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory.max": "4294967296\n", "/sys/fs/cgroup/memory.current": "1073741824\n",
			"/sys/fs/cgroup/memory.stat": "anon 1073741824\n"}, 3 << 30},
		{"v1 unlimited", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "1\n"}, 23949872 << 10},
		{"v1 over its limit", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1000\n", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "2000\n"}, 0},
		// v1 counts the hierarchy's page cache in total_inactive_file; its
		// inactive_file is the cgroup's own.
		{"v1 with page cache", map[string]string{"/proc/meminfo": meminfo,
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "4294967296\n", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "3758096384\n",
			"/sys/fs/cgroup/memory/memory.stat": "inactive_file 0\ntotal_inactive_file 2684354560\n"}, 3 << 30},
	} {
		got, err := available(files(c.files))
		if err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

func TestBadFilesAreErrors(t *testing.T) {
	for _, c := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{}, "meminfo"},
		{map[string]string{"/proc/meminfo": "MemTotal: 1 kB\n"}, "no MemAvailable"},
		{map[string]string{"/proc/meminfo": "MemAvailable: lots kB\n"}, `MemAvailable "lots"`},
		{map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "12G"}, `memory.max: "12G"`},
		{map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "12", "/sys/fs/cgroup/memory.current": "1",
			"/sys/fs/cgroup/memory.stat": "inactive_file 1k\n"}, `memory.stat: inactive_file "1k"`},
	} {
		if _, err := available(files(c.files)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to say %q", c.files, err, c.want)
		}
	}
}

// The real machine answers, with something between nothing and its total.
func TestAvailableHere(t *testing.T) {
	n, err := Available()
	if err != nil {
		t.Skip("no /proc/meminfo:", err)
	}
	if n <= 0 || n > 1<<50 {
		t.Fatalf("Available = %d bytes", n)
	}
}
