package receiver

import (
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/live"
)

// LiveTotals reads r's totals for the live view's history (Totals), with
// the protocols of the host's devices and bonds, which the host's protocol
// mix adds up.
func (r *Receiver) LiveTotals() live.TotalsFunc {
	return func(fn func(live.Totals)) error {
		return r.Totals(func(t *InterfaceTotals) {
			lt := live.Totals{Name: t.Name, Kind: t.Kind, Master: t.Master,
				Pod: t.Workload.PodName, Namespace: t.Workload.PodNamespace, Container: t.Workload.ContainerName,
				ReceivePackets: t.Receive.Packets, ReceiveBytes: t.Receive.Bytes,
				TransmitPackets: t.Transmit.Packets, TransmitBytes: t.Transmit.Bytes}
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

// LiveDrops reads r's drop totals for the live view's history (Drops).
func (r *Receiver) LiveDrops() live.DropsFunc {
	return func(fn func(live.DropTotals)) error {
		return r.Drops(func(d InterfaceDrops) {
			fn(live.DropTotals{Interface: d.Interface, Reason: d.Reason, Category: d.Category, Packets: d.Packets})
		})
	}
}
