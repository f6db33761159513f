package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testtraffic"
)

// tcpPort is where the receiving end of BenchmarkTCPThroughput listens.
const tcpPort = 5201

// tcpBufSize is what the sender hands to each write and the receiver asks of
// each read: large, so that system calls are few and the socket buffers, not
// the Go loop, set the pace (iperf3 uses 128 KiB).
const tcpBufSize = 1 << 20

// tcpStream is a TCP listener in one namespace and the address a sender in
// another namespace dials.
type tcpStream struct {
	ln     net.Listener
	sender *testenv.Netns
	addr   string
	buf    []byte // what the sender writes
}

// newTCPStream listens on addr:tcpPort in receiver, for senders in sender.
func newTCPStream(tb testing.TB, sender, receiver *testenv.Netns, addr netip.Addr) *tcpStream {
	tb.Helper()
	s := &tcpStream{sender: sender, addr: netip.AddrPortFrom(addr, tcpPort).String(), buf: make([]byte, tcpBufSize)}
	for i := range s.buf {
		s.buf[i] = byte(i) // not all zeros, though nothing on the path compresses
	}
	err := receiver.Do(func() error {
		var err error
		s.ln, err = net.Listen("tcp4", s.addr)
		return err
	})
	if err != nil {
		tb.Fatalf("listen in %s: %v", receiver.Name, err)
	}
	tb.Cleanup(func() { s.ln.Close() })
	return s
}

// tcpRound is what one connection moved.
type tcpRound struct {
	bytes   uint64        // payload bytes the receiver read
	elapsed time.Duration // from the connection's establishment to the receiver's end of stream
	// threadsCPU is the CPU time of the sender's and the receiver's threads
	// over the round, the system calls and the softirq work done in their
	// context (on veth, most of both ends' network stack) included.
	threadsCPU time.Duration
	// retrans is the segments the sender retransmitted (tcpi_total_retrans),
	// mss the largest segment it sent (tcpi_snd_mss).
	retrans, mss uint32
}

// gbits returns the round's payload throughput in Gbit/s.
func (r tcpRound) gbits() float64 { return float64(r.bytes) * 8 / r.elapsed.Seconds() / 1e9 }

// run opens one connection and sends for d: the sender writes tcpBufSize
// bytes at a time until d has passed, then closes its side; the receiver
// reads until the end of the stream. The sender's thread runs on sendCPU, the
// receiver's on recvCPU (-1: anywhere).
func (s *tcpStream) run(tb testing.TB, d time.Duration, sendCPU, recvCPU int) tcpRound {
	tb.Helper()
	type received struct {
		n   uint64
		end time.Time
		cpu time.Duration
		err error
	}
	got := make(chan received, 1)
	go func() {
		var r received
		r.err = onCPU(recvCPU, func() error {
			cpu0, err := threadCPU()
			if err != nil {
				return err
			}
			conn, err := s.ln.Accept()
			if err != nil {
				return fmt.Errorf("accept: %w", err)
			}
			defer conn.Close()
			buf := make([]byte, tcpBufSize)
			for {
				n, err := conn.Read(buf)
				r.n += uint64(n)
				if errors.Is(err, io.EOF) {
					r.end = time.Now()
					cpu1, err := threadCPU()
					r.cpu = cpu1 - cpu0
					return err
				}
				if err != nil {
					return fmt.Errorf("read: %w", err)
				}
			}
		})
		got <- r
	}()
	var start time.Time
	var sendCPUTime time.Duration
	var conn net.Conn
	sendErr := s.sender.Do(func() error {
		return onCPU(sendCPU, func() error {
			cpu0, err := threadCPU()
			if err != nil {
				return err
			}
			conn, err = net.DialTimeout("tcp4", s.addr, 5*time.Second)
			if err != nil {
				return fmt.Errorf("dial %s: %w", s.addr, err)
			}
			start = time.Now()
			for until := start.Add(d); time.Now().Before(until); {
				if _, err := conn.Write(s.buf); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
			if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
				return err
			}
			cpu1, err := threadCPU()
			sendCPUTime = cpu1 - cpu0
			return err
		})
	})
	if sendErr != nil {
		if conn != nil {
			conn.Close()
		}
		s.ln.(*net.TCPListener).SetDeadline(time.Now()) // unblock an Accept still waiting
		<-got
		s.ln.(*net.TCPListener).SetDeadline(time.Time{})
		tb.Fatalf("tcp sender: %v", sendErr)
	}
	defer conn.Close()
	r := <-got
	if r.err != nil {
		tb.Fatalf("tcp receiver: %v", r.err)
	}
	// Everything has arrived: no retransmission is still to come.
	info, err := testtraffic.TCPInfo(conn.(*net.TCPConn))
	if err != nil {
		tb.Fatalf("tcp sender: %v", err)
	}
	return tcpRound{bytes: r.n, elapsed: r.end.Sub(start), threadsCPU: sendCPUTime + r.cpu,
		retrans: info.Total_retrans, mss: info.Snd_mss}
}

// threadCPU returns the time the calling thread has spent on a CPU
// (/proc/thread-self/schedstat, in nanoseconds). Without
// CONFIG_IRQ_TIME_ACCOUNTING, as here, that includes the softirq work the
// kernel did while the thread ran. The caller must have locked its thread.
func threadCPU() (time.Duration, error) {
	return schedstat("/proc/thread-self/schedstat")
}

// schedstat returns the first field of a schedstat file: time on a CPU.
func schedstat(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty %s", path)
	}
	ns, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %q", path, b)
	}
	return time.Duration(ns), nil
}

// softirqThreads returns the paths of the schedstat files of the
// ksoftirqd threads (one per CPU): the softirq work the kernel defers to
// them is part of the traffic's cost too.
func softirqThreads(tb testing.TB) []string {
	tb.Helper()
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		tb.Fatal(err)
	}
	var paths []string
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			paths = append(paths, filepath.Join(filepath.Dir(c), "schedstat"))
		}
	}
	if len(paths) == 0 {
		tb.Fatal("no ksoftirqd thread found")
	}
	return paths
}

// threadsCPU returns the summed CPU time of the schedstat files paths.
func threadsCPU(tb testing.TB, paths []string) time.Duration {
	tb.Helper()
	var total time.Duration
	for _, p := range paths {
		d, err := schedstat(p)
		if err != nil {
			tb.Fatal(err)
		}
		total += d
	}
	return total
}

// onCPU runs fn with the calling goroutine locked to its thread and the
// thread bound to cpu (-1: unbound). Inside testenv.Netns.Do the thread is
// already locked (locks nest), and stays in the namespace.
func onCPU(cpu int, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu < 0 {
		return fn()
	}
	return withThreadOnCPU(cpu, fn)
}

// cpuStat is the machine's busy CPU time so far (user, nice, system, irq
// and softirq), from the first line of /proc/stat, in clock ticks (USER_HZ).
type cpuStat struct {
	busy uint64
}

// machineCPU reads /proc/stat.
func machineCPU(tb testing.TB) cpuStat {
	tb.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		tb.Fatalf("unexpected /proc/stat: %q", line)
	}
	var v [7]uint64 // user nice system idle iowait irq softirq
	for i := range v {
		if v[i], err = strconv.ParseUint(fields[i+1], 10, 64); err != nil {
			tb.Fatalf("parse /proc/stat: %q", line)
		}
	}
	return cpuStat{busy: v[0] + v[1] + v[2] + v[5] + v[6]}
}

// userHZ is the unit of /proc/stat: 100 ticks per second on every Linux
// architecture Go supports.
const userHZ = 100

// busySeconds returns the busy CPU seconds between two readings.
func busySeconds(before, after cpuStat) float64 {
	return float64(after.busy-before.busy) / userHZ
}
