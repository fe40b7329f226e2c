package casebench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// controlPlaneCPU reads the CPU time used so far by the API server, etcd
// and this process (the manager, the creators and the watch), so the
// benchmark can say which of them the deadlines cost.
type controlPlaneCPU struct {
	apiServer, etcd int // pids; 0 when not found
}

// cpuSample is the CPU time of each process at one moment.
type cpuSample struct {
	at                    time.Time
	apiServer, etcd, self time.Duration
}

// findControlPlane finds the envtest processes by the addresses on their
// command lines (the API server's secure port, etcd's client URL).
func findControlPlane() controlPlaneCPU {
	var out controlPlaneCPU
	cp := env.Environment.ControlPlane
	apiArg, etcdArg := "", ""
	if cp.APIServer != nil && cp.APIServer.SecureServing.Port != "" {
		apiArg = "--secure-port=" + cp.APIServer.SecureServing.Port
	}
	if cp.Etcd != nil && cp.Etcd.URL != nil {
		etcdArg = "--listen-client-urls=" + cp.Etcd.URL.String()
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		pid, _ := strconv.Atoi(filepath.Base(d))
		for _, a := range args {
			switch {
			case apiArg != "" && a == apiArg && strings.HasSuffix(args[0], "kube-apiserver"):
				out.apiServer = pid
			case etcdArg != "" && a == etcdArg && strings.HasSuffix(args[0], "etcd"):
				out.etcd = pid
			}
		}
	}
	return out
}

func (c controlPlaneCPU) sample() cpuSample {
	return cpuSample{at: time.Now(), apiServer: procCPU(c.apiServer), etcd: procCPU(c.etcd), self: procCPU(os.Getpid())}
}

// procCPU is the user and system time of pid from /proc/<pid>/stat; 0
// when it cannot be read.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are space-separated: utime and stime are the
	// 12th and 13th of them (fields 14 and 15 of stat).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// describe says how much CPU each process used between two samples, in
// all and per Case, and how many cores that kept busy.
func describeCPU(from, to cpuSample, cases int) string {
	wall := to.at.Sub(from.at).Seconds()
	part := func(name string, a, b time.Duration) string {
		d := b - a
		return fmt.Sprintf("%s %.1fs (%.2f ms/Case, %.2f cores)", name, d.Seconds(), d.Seconds()*1000/float64(max(cases, 1)), d.Seconds()/wall)
	}
	return fmt.Sprintf("%s; %s; %s; over %.1fs", part("API server", from.apiServer, to.apiServer), part("etcd", from.etcd, to.etcd),
		part("manager+benchmark", from.self, to.self), wall)
}
