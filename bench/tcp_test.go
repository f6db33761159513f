package bench

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/testing/testenv"
	"github.com/packet-exporter/packet-exporter/internal/testing/testexporter"
)

// tcpConfig is one receiver set-up of BenchmarkTCPThroughput.
type tcpConfig struct {
	name     string // metric prefix
	exporter bool   // the real binary counts the receiving end
	yaml     string // configuration sections besides interfaces, log and prometheus
	want     string // the receive attachment the exporter must report ("xdp-native", "tcx"...); "" any
}

// tcpConfigs are the set-ups BenchmarkTCPThroughput compares: no program,
// the exporter's defaults (no hook key set), and each ingress hook chosen
// explicitly.
var tcpConfigs = []tcpConfig{
	{name: "none"},
	{name: "default", exporter: true},
	{name: "xdp-native", exporter: true, yaml: "ingress:\n  hook: xdp\nxdp:\n  mode: native\n", want: "xdp-native"},
	{name: "xdp-generic", exporter: true, yaml: "ingress:\n  hook: xdp\nxdp:\n  mode: generic\n", want: "xdp-generic"},
	{name: "tcx", exporter: true, yaml: "ingress:\n  hook: tcx\n", want: "tcx"},
}

// tcpRepeats is how many times each iteration runs every set-up: the
// throughput of 2 s rounds on a shared machine varies by tens of percent, so
// the ratios need about 30 rounds to resolve a few percent.
func tcpRepeats() int {
	if *smoke {
		return 1
	}
	return 3
}

// tcpRoundDuration is how long the sender writes in each round.
func tcpRoundDuration() time.Duration {
	if *smoke {
		return 300 * time.Millisecond
	}
	return 2 * time.Second
}

// tcpCPUs returns the CPUs of the TCP sender's and receiver's threads: the
// first and the last. The veth hands a frame to its peer on the sending
// CPU, so the receive path up to the socket (the hook included) runs there,
// in the sender's context; the receiver copies the data out on the other.
// Pinned, the two never share a CPU by the scheduler's chance.
func tcpCPUs() (send, recv int) {
	return 0, runtime.NumCPU() - 1
}

// BenchmarkTCPThroughput measures what each ingress hook costs the host's
// own TCP traffic. One TCP connection per round carries bulk data across a
// veth pair between two test namespaces (one queue per CPU, offloads as
// the kernel sets them: TSO, GSO and checksum offload on, GRO off, as on a
// container host); a Go sender in namespace A writes 1 MiB buffers for
// tcpRoundDuration, a Go receiver in B reads them. The receiving end is
// counted by the real packet-exporter binary in B with its defaults (only
// interfaces.include set), with ingress.hook xdp in native and in generic
// mode, and with ingress.hook tcx, or not counted at all (no exporter
// running). Every iteration runs each set-up tcpRepeats times (a fresh
// exporter per round, started and ready before the round), the order
// rotating.
//
// Per set-up it reports the median payload throughput and the median ratio
// to the no-program round of the same iteration; the CPU time per gigabit of
// payload of the traffic itself (the sender's and receiver's threads, the
// ksoftirqd threads and the exporter process: steadier than the throughput
// on a shared machine, since it does not depend on how much CPU the others
// leave) and its ratio to the no-program round's, and the whole machine's
// busy time per gigabit (user, nice, system, irq and softirq of /proc/stat);
// the exporter's counted bytes over the payload, the sender's retransmissions,
// and in how many rounds the sender's TSO and GSO and the receiver's GRO were
// on. It fails if an exporter reports a receive hook other than the one its
// configuration asks for (the default's is recorded, whichever it is), or
// counted fewer ipv4/tcp bytes received during the round than the receiver
// read (it counts frames with their headers, so at least the payload).
func BenchmarkTCPThroughput(b *testing.B) {
	testenv.RequireRoot(b)
	bin := exporterBinary(b)
	a, bns, pair := testenv.NewNetnsPair(b, testenv.VethOptions{Queues: 2, Quiet: true})
	stream := newTCPStream(b, a, bns, pair.IPv4B.Addr())
	client := bns.HTTPClient()
	scrape := func(p *exporterProcess) counted {
		b.Helper()
		body, err := testexporter.Get(client, p.URL+"/metrics")
		if err != nil {
			b.Fatalf("%v\n%s", err, p.Output())
		}
		return parseCounts(b, bytes.NewReader(body), pair.NameB, "receive")
	}

	softirqd := softirqThreads(b)
	sendCPU, recvCPU := tcpCPUs()

	// Samples by set-up, one per round.
	gbits, cpuPerGbit, machinePerGbit := map[string]samples{}, map[string]samples{}, map[string]samples{}
	retransPct, countedPerPayload := map[string]samples{}, map[string]samples{}
	// Against the no-program round of the same iteration.
	ratio, loss, cpuRatio := map[string]samples{}, map[string]samples{}, map[string]samples{}
	// Rounds by set-up with the offload on; rounds by the default's hook.
	senderGSO, receiverGRO, defaultHooks := map[string]int{}, map[string]int{}, map[string]int{}
	var mss uint32
	iteration := 0
	for b.Loop() {
		for range tcpRepeats() {
			round := map[string]float64{}
			roundCPU := map[string]float64{}
			for k := range tcpConfigs {
				c := tcpConfigs[(k+iteration)%len(tcpConfigs)]
				var p *exporterProcess
				var before counted
				if c.exporter {
					p = startExporter(b, bns, bin, `"`+pair.NameB+`"`, c.yaml)
					p.waitReady(b, 30*time.Second)
					p.waitDropsCounted(b) // its start-up (the kernel's BTF) is not what is measured
					before = scrape(p)
					switch got := before.attachment(); {
					case got == "none":
						b.Fatalf("%s: the exporter reports no receive hook on %s\n%s", c.name, pair.NameB, p.Output())
					case c.want != "" && got != c.want:
						b.Fatalf("%s: the exporter attached %s on %s, want %s\n%s", c.name, got, pair.NameB, c.want, p.Output())
					case c.want == "":
						defaultHooks[got]++
					}
				} else {
					testenv.AssertNothingAttached(b, bns, pair.NameB)
				}
				// Native XDP on a veth end turns segmentation offload off on
				// its peer: record the offloads each round ran with.
				if offloadOn(b, a, pair.NameA, unix.ETHTOOL_GGSO) && offloadOn(b, a, pair.NameA, unix.ETHTOOL_GTSO) {
					senderGSO[c.name]++
				}
				if offloadOn(b, bns, pair.NameB, unix.ETHTOOL_GGRO) {
					receiverGRO[c.name]++
				}

				var exporter0, exporter1 time.Duration
				if p != nil {
					exporter0 = p.cpuTime(b)
				}
				machine0, softirq0 := machineCPU(b), threadsCPU(b, softirqd)
				r := stream.run(b, tcpRoundDuration(), sendCPU, recvCPU)
				machine1, softirq1 := machineCPU(b), threadsCPU(b, softirqd)
				if p != nil {
					exporter1 = p.cpuTime(b)
				}
				if r.bytes == 0 {
					b.Fatalf("%s: no byte received", c.name)
				}
				round[c.name] = r.gbits()
				gbits[c.name] = append(gbits[c.name], r.gbits())
				gigabits := float64(r.bytes) * 8 / 1e9
				traffic := r.threadsCPU + (softirq1 - softirq0) + (exporter1 - exporter0)
				roundCPU[c.name] = traffic.Seconds() / gigabits
				cpuPerGbit[c.name] = append(cpuPerGbit[c.name], roundCPU[c.name])
				machinePerGbit[c.name] = append(machinePerGbit[c.name], busySeconds(machine0, machine1)/gigabits)
				retransPct[c.name] = append(retransPct[c.name], 100*float64(r.retrans)*float64(r.mss)/float64(r.bytes))
				mss = max(mss, r.mss)

				if p != nil {
					after := scrape(p)
					n := after.tcp4Bytes - before.tcp4Bytes
					switch {
					case n == 0:
						b.Fatalf("%s: the exporter counted no ipv4/tcp byte received on %s (%s attached) while %d payload bytes arrived",
							c.name, pair.NameB, after.attachment(), r.bytes)
					case n < r.bytes:
						b.Errorf("%s: the exporter counted %d ipv4/tcp bytes received on %s (%s attached), fewer than the %d payload bytes read",
							c.name, n, pair.NameB, after.attachment(), r.bytes)
					}
					countedPerPayload[c.name] = append(countedPerPayload[c.name], float64(n)/float64(r.bytes))
					p.stop(b)
				}
			}
			for _, c := range tcpConfigs[1:] {
				ratio[c.name] = append(ratio[c.name], round[c.name]/round["none"])
				loss[c.name] = append(loss[c.name], 100*(1-round[c.name]/round["none"]))
				cpuRatio[c.name] = append(cpuRatio[c.name], roundCPU[c.name]/roundCPU["none"])
			}
			iteration++
		}
	}
	for _, c := range tcpConfigs {
		report(b, gbits[c.name], c.name+"-Gbit/s")
		report(b, cpuPerGbit[c.name], c.name+"-cpu-s/Gbit")
		report(b, machinePerGbit[c.name], c.name+"-machine-cpu-s/Gbit")
		report(b, retransPct[c.name], c.name+"-retrans-%")
		b.ReportMetric(float64(senderGSO[c.name]), c.name+"-sender-gso-rounds")
		b.ReportMetric(float64(receiverGRO[c.name]), c.name+"-receiver-gro-rounds")
		if c.exporter {
			report(b, ratio[c.name], c.name+"-ratio")
			report(b, loss[c.name], c.name+"-loss-%")
			report(b, cpuRatio[c.name], c.name+"-cpu-ratio")
			report(b, countedPerPayload[c.name], c.name+"-counted/payload")
		}
	}
	for hook, n := range defaultHooks {
		b.ReportMetric(float64(n), fmt.Sprintf("default-hook-%s-rounds", hook))
	}
	b.ReportMetric(float64(mss), "mss-bytes")
	b.ReportMetric(float64(iteration), "rounds")
	b.ReportMetric(tcpRoundDuration().Seconds(), "round-s")
}
