package receiver

import (
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/live"
)

// LiveSources are what the live view's history samples of r: its totals,
// drops and health.
func (r *Receiver) LiveSources() live.Sources {
	return live.Sources{Totals: r.liveTotals(), Drops: r.liveDrops(), Health: r.liveHealth()}
}

// liveTotals reads r's totals (Totals), with the protocols of the host's
// devices and bonds, which the host's protocol mix adds up.
func (r *Receiver) liveTotals() live.TotalsFunc {
	return func(fn func(live.Totals)) error {
		return r.Totals(func(t *InterfaceTotals) {
			lt := live.Totals{Name: t.Name, Kind: t.Kind, Master: t.Master,
				Pod: t.Workload.PodName, Namespace: t.Workload.PodNamespace, Container: t.Workload.ContainerName,
				ReceivePackets: t.Receive.Packets, ReceiveBytes: t.Receive.Bytes,
				TransmitPackets: t.Transmit.Packets, TransmitBytes: t.Transmit.Bytes, ParseErrors: t.ParseErrors}
			if t.Kind == attribution.KindDevice || t.Kind == attribution.KindBond {
				t.Protocols(func(networkType, transport string, rx, tx Counted) {
					lt.Protocols = append(lt.Protocols, live.ProtocolTotals{NetworkType: networkType, Transport: transport,
						ReceivePackets: rx.Packets, ReceiveBytes: rx.Bytes, TransmitPackets: tx.Packets, TransmitBytes: tx.Bytes})
				})
			}
			fn(lt)
		})
	}
}

// liveDrops reads r's drop totals (Drops).
func (r *Receiver) liveDrops() live.DropsFunc {
	return func(fn func(live.DropTotals)) error {
		return r.Drops(func(d InterfaceDrops) {
			fn(live.DropTotals{Interface: d.Interface, Reason: d.Reason, Category: d.Category, Packets: d.Packets})
		})
	}
}

// liveHealth reads r's health (Health).
func (r *Receiver) liveHealth() live.HealthFunc {
	return func() (live.Health, error) {
		h, err := r.Health()
		return live.Health{Programs: h.Programs, Interfaces: h.Interfaces, AttachFailures: h.AttachFailures,
			Skipped: h.Skipped, EventsLost: h.EventsLost}, err
	}
}
