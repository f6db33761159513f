package receiver

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/bpf"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// podAttributes are the attribute sets of a pod's series of one veth
// (k8s.pod.network.*), by the host's veth's direction: each carries the
// other direction, the pod's.
type podAttributes [2]metric.MeasurementOption

// podMetricsOn tells whether the pods' series are published: attribution
// finds the pods, and conventions.pod_metrics asks for them.
func (a *attacher) podMetricsOn() bool {
	return a.cfg.Attribution.Enabled && a.cfg.Conventions.PodMetrics
}

// newPodAttributes returns the attribute sets of at's pod series, nil when
// it has none: no pod behind it, or the pod's name of its interface not
// known yet.
func (a *attacher) newPodAttributes(at *attachment) *podAttributes {
	w := at.workload
	if !a.podMetricsOn() || w.PodUID == "" || at.podInterface == "" {
		return nil
	}
	pod := []attribute.KeyValue{metricdef.K8sPodUid.String(w.PodUID)}
	if w.PodName != "" { // unknown where the pod's log directory is missing
		pod = append(pod, metricdef.K8sPodName.String(w.PodName), metricdef.K8sNamespaceName.String(w.PodNamespace))
	}
	var p podAttributes
	for _, d := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		p[d] = metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{
			metricdef.NetworkInterfaceName.String(at.podInterface),
			metricdef.NetworkIODirection.String(podDirection(d).String())}, pod...)...))
	}
	return &p
}

// podDirection is the pod's direction of what its veth's host end counts in
// direction d: what the host's end receives, the pod transmitted.
func podDirection(d bpf.Direction) bpf.Direction {
	if d == bpf.Receive {
		return bpf.Transmit
	}
	return bpf.Receive
}

// peerName returns the name of interface index in the network namespace the
// socket's namespace knows by nsid (RTM_GETLINK with IFLA_TARGET_NETNSID,
// Linux 4.20+): a veth's peer's name, as a pod sees it, without entering the
// pod's namespace.
func peerName(sock *nl.NetlinkSocket, nsid, index int) (string, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(nsid))))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return "", fmt.Errorf("peer interface %d of namespace %d: %w", index, nsid, err)
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return "", fmt.Errorf("peer interface %d of namespace %d: %d answers", index, nsid, len(msgs))
	}
	attrs, err := nl.ParseRouteAttr(msgs[0][unix.SizeofIfInfomsg:])
	if err != nil {
		return "", fmt.Errorf("peer interface %d of namespace %d: %w", index, nsid, err)
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_IFNAME && len(a.Value) > 1 {
			return string(a.Value[:len(a.Value)-1]), nil // NUL-terminated
		}
	}
	return "", errors.New("peer interface: no name in the answer")
}
