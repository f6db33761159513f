package receiver

import (
	"context"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// Attribute keys of packet_exporter.interface.info.
const (
	AttrKind   = metricdef.InterfaceKind
	AttrMaster = metricdef.InterfaceMaster
)

// attributionInterval is how often the workloads behind veths are looked up
// again: a container started after its veth appeared is attributed within
// about this long, plus one scan of the host's processes.
const attributionInterval = time.Second

// linkFacts are what netlink tells of an interface for its info series.
type linkFacts struct {
	kind        string
	masterIndex int // the bridge or bond it is enslaved to, 0 for none
	// peerNetnsID is the ID the receiver's namespace knows the namespace of
	// a veth's peer by, when the peer lives in another one; -1 otherwise.
	peerNetnsID int
}

// linkFactsOf reads the facts of a netlink link.
func linkFactsOf(nl netlink.Link) linkFacts {
	attrs := nl.Attrs()
	f := linkFacts{kind: attribution.Kind(nl), masterIndex: attrs.MasterIndex, peerNetnsID: -1}
	if f.kind == attribution.KindVeth && attrs.NetNsID >= 0 {
		f.peerNetnsID = attrs.NetNsID
	}
	return f
}

// seriesAttributes are the workload attributes attribution.on_series puts
// on an interface's traffic series.
func seriesAttributes(w attribution.Workload) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	for _, a := range []attribute.KeyValue{
		semconv.K8SNamespaceName(w.PodNamespace), semconv.K8SPodName(w.PodName), semconv.ContainerName(w.ContainerName),
	} {
		if a.Value.AsString() != "" {
			attrs = append(attrs, a)
		}
	}
	return attrs
}

// setInfoLocked computes the attribute set of a's info series from its
// facts, its master's current name and its workload and, with
// attribution.on_series, the attributes of its traffic series when its
// workload's changed.
func (r *Receiver) setInfoLocked(a *attachment) {
	attrs := []attribute.KeyValue{AttrInterface.String(a.name), AttrKind.String(a.facts.kind)}
	if master, ok := r.linkNames[a.facts.masterIndex]; ok && a.facts.masterIndex != 0 {
		attrs = append(attrs, AttrMaster.String(master))
	}
	attrs = append(attrs, a.workload.Attributes()...)
	a.info = metric.WithAttributeSet(attribute.NewSet(attrs...))
	if !r.cfg.Attribution.OnSeries {
		return
	}
	if series := seriesAttributes(a.workload); !slices.Equal(series, a.seriesAttrs) {
		a.seriesAttrs = series
		a.attrs = newInterfaceAttributes(a.name, series)
	}
}

// runAttribution looks up, every attributionInterval until ctx ends, the
// workloads behind the counted veths whose peers live in other network
// namespaces. It runs beside counting and never holds the receiver's lock
// while it reads the host's files.
func (r *Receiver) runAttribution(ctx context.Context) {
	defer close(r.attributionDone)
	if !r.cfg.Attribution.Enabled {
		return
	}
	// A handle of its own, in the receiver's namespace: the namespace IDs of
	// the processes must be those that namespace knows the veths' peers by.
	nl, err := netlink.NewHandleAt(r.opts.netns, unix.NETLINK_ROUTE)
	if err != nil {
		r.log.Warn("workloads are not attributed: netlink handle", zap.Error(err))
		return
	}
	defer nl.Close()
	resolver := attribution.NewResolver(r.cfg.Attribution.HostRoot, nl.GetNetNsIdByPid)
	ticker := time.NewTicker(attributionInterval)
	defer ticker.Stop()
	failing := false
	for {
		var results map[int]attribution.Result
		var err error
		if nsids := r.peerNamespaces(); len(nsids) > 0 {
			results, err = resolver.Resolve(nsids)
			if err != nil && !failing {
				r.log.Warn("workloads are not attributed", zap.String("host_root", r.cfg.Attribution.HostRoot), zap.Error(err))
			} else if err == nil && failing {
				r.log.Info("workloads are attributed again")
			}
			failing = err != nil
		}
		r.applyAttribution(results, err != nil)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// peerNamespaces returns the namespaces of the counted veths' peers.
func (r *Receiver) peerNamespaces() []int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[int]bool{}
	var nsids []int
	for _, a := range r.attached {
		if id := a.facts.peerNetnsID; id >= 0 && !seen[id] {
			seen[id] = true
			nsids = append(nsids, id)
		}
	}
	return nsids
}

// applyAttribution gives each counted veth the workload found behind its
// peer, and counts those not fully known by reason; failed: every one is
// unknown because the lookup failed.
func (r *Receiver) applyAttribution(results map[int]attribution.Result, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	unresolved := map[string]int64{}
	for _, a := range r.attached {
		var res attribution.Result
		if id := a.facts.peerNetnsID; id >= 0 && failed {
			res.Problem = attribution.ReasonLookupFailed
		} else if id >= 0 {
			var ok bool
			if res, ok = results[id]; !ok {
				continue // attached since the namespaces were listed
			}
		}
		if res.Problem != "" {
			unresolved[res.Problem]++
		}
		if res.Workload != a.workload {
			a.workload = res.Workload
			r.setInfoLocked(a)
		}
	}
	r.unresolved = unresolved
}

// observeAttribution observes the info series of every counted interface
// and the interfaces whose workload is not fully known.
func (r *Receiver) observeAttribution(o metric.Observer, inst *instruments) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, a := range r.attached {
		o.ObserveInt64(inst.interfaceInfo, 1, a.info)
	}
	if !r.cfg.Attribution.Enabled {
		return
	}
	for _, reason := range unresolvedReasons {
		o.ObserveInt64(inst.unresolved, r.unresolved[reason], unresolvedAttrs[reason])
	}
}

// unresolvedReasons are the error.type values of
// packet_exporter.attribution.unresolved, each always observed.
var unresolvedReasons = []string{
	attribution.ReasonNoProcess, attribution.ReasonNoContainer, attribution.ReasonSeveralContainers,
	attribution.ReasonPodNotFound, attribution.ReasonNameNotFound, attribution.ReasonRuntimeNotFound,
	attribution.ReasonLookupFailed,
}

var unresolvedAttrs = func() map[string]metric.ObserveOption {
	m := map[string]metric.ObserveOption{}
	for _, reason := range unresolvedReasons {
		m[reason] = metric.WithAttributes(AttrErrorType.String(reason))
	}
	return m
}()
