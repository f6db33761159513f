package receiver

import (
	"context"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/attribution"
	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// attributionInterval is how often the workloads behind veths are looked up
// again: a container started after its veth appeared is attributed within
// about this long, plus one scan of the host's processes.
const attributionInterval = time.Second

// attributionCollector looks up, beside counting, the workloads behind the
// counted veths whose peers live in other network namespaces, and observes
// every counted interface's info series and the veths whose workload is not
// fully known.
type attributionCollector struct {
	att *attacher

	mu sync.Mutex
	// unresolved counts the counted veths whose workload is not fully known,
	// by reason.
	unresolved map[string]int64
	// warnedPodName: a failed lookup of a pod's name of its interface was
	// logged as a warning (the attribution goroutine's only).
	warnedPodName bool
}

// start looks up, every attributionInterval until ctx ends, the workloads
// behind the counted veths whose peers live in other network namespaces. It
// never holds the attacher's lock while it reads the host's files.
func (c *attributionCollector) start(ctx context.Context, running *sync.WaitGroup) {
	running.Go(func() {
		a := c.att
		// A handle of its own, in the receiver's namespace: the namespace IDs of
		// the processes must be those that namespace knows the veths' peers by.
		handle, err := netlink.NewHandleAt(a.opts.netns, unix.NETLINK_ROUTE)
		if err != nil {
			a.log.Warn("workloads are not attributed: netlink handle", zap.Error(err))
			return
		}
		defer handle.Close()
		resolver := attribution.NewResolver(runtimeRoots(a.cfg.Attribution, a.log), handle.GetNetNsIdByPid)
		// A socket of its own in that namespace, for the pods' names of their
		// interfaces.
		var sock *nl.NetlinkSocket
		if a.podMetricsOn() {
			if sock, err = nl.GetNetlinkSocketAt(a.opts.netns, netns.None(), unix.NETLINK_ROUTE); err != nil {
				a.log.Warn("pods' series are not published: netlink socket", zap.Error(err))
			} else {
				defer sock.Close()
			}
		}
		ticker := time.NewTicker(attributionInterval)
		defer ticker.Stop()
		failing := false
		for {
			var results map[int]attribution.Result
			var err error
			if nsids := c.peerNamespaces(); len(nsids) > 0 {
				results, err = resolver.Resolve(nsids)
				if err != nil && !failing {
					a.log.Warn("workloads are not attributed",
						zap.String("host_root", a.cfg.Attribution.HostRoot), zap.Error(err))
				} else if err == nil && failing {
					a.log.Info("workloads are attributed again")
				}
				failing = err != nil
			}
			c.apply(results, c.podInterfaces(results, sock), err != nil)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	})
}

func (c *attributionCollector) close() error { return nil }

// podInterfaces looks up, for each counted veth whose peer's namespace
// results give a pod and whose pod's name of the interface is not known yet,
// that name (peerName), by the veth's index. It never holds the attacher's
// lock while it asks the kernel.
func (c *attributionCollector) podInterfaces(results map[int]attribution.Result, sock *nl.NetlinkSocket) map[int]string {
	if sock == nil {
		return nil
	}
	type peer struct{ index, nsid, peerIndex int }
	var want []peer
	c.att.mu.RLock()
	for _, at := range c.att.attached {
		id := at.facts.peerNetnsID
		if res, ok := results[id]; ok && id >= 0 && res.Workload.PodUID != "" && (at.podInterface == "" || res.Workload != at.workload) {
			want = append(want, peer{at.index, id, at.facts.peerIndex})
		}
	}
	c.att.mu.RUnlock()
	names := make(map[int]string, len(want))
	for _, p := range want {
		name, err := peerName(sock, p.nsid, p.peerIndex)
		if err != nil {
			// Warned once: the pods' series wait for the name.
			log := c.att.log.Debug
			if !c.warnedPodName {
				c.warnedPodName, log = true, c.att.log.Warn
			}
			log("a pod's series wait for its name of its interface", zap.Error(err))
			continue
		}
		names[p.index] = name
	}
	return names
}

func (c *attributionCollector) peerNamespaces() []int {
	c.att.mu.RLock()
	defer c.att.mu.RUnlock()
	seen := map[int]bool{}
	var nsids []int
	for _, at := range c.att.attached {
		if id := at.facts.peerNetnsID; id >= 0 && !seen[id] {
			seen[id] = true
			nsids = append(nsids, id)
		}
	}
	return nsids
}

// apply gives each counted veth the workload found behind its peer, and
// counts those not fully known by reason; failed: every one is unknown
// because the lookup failed.
func (c *attributionCollector) apply(results map[int]attribution.Result, podInterfaces map[int]string, failed bool) {
	a := c.att
	a.mu.Lock()
	defer a.mu.Unlock()
	unresolved := map[string]int64{}
	for _, at := range a.attached {
		var res attribution.Result
		if id := at.facts.peerNetnsID; id >= 0 && failed {
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
		changed := res.Workload != at.workload
		if changed {
			at.workload = res.Workload
			at.podInterface = "" // looked up again for the new pod
		}
		if name, ok := podInterfaces[at.index]; ok && name != at.podInterface {
			at.podInterface, changed = name, true
		}
		if changed {
			a.setInfoLocked(at)
		}
	}
	c.mu.Lock()
	c.unresolved = unresolved
	c.mu.Unlock()
}

func (c *attributionCollector) register(create *instruments) observe {
	info := observable(create, metricdef.InterfaceInfo.Int64Gauge)
	var unresolved metric.Int64ObservableGauge
	if c.att.cfg.Attribution.Enabled {
		unresolved = observable(create, metricdef.AttributionUnresolved.Int64Gauge)
	}
	return func(_ context.Context, o metric.Observer) error {
		c.att.mu.RLock()
		for _, at := range c.att.attached {
			o.ObserveInt64(info, 1, at.info)
		}
		c.att.mu.RUnlock()
		if !c.att.cfg.Attribution.Enabled {
			return nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, reason := range unresolvedReasons {
			o.ObserveInt64(unresolved, c.unresolved[reason], unresolvedAttrs[reason])
		}
		return nil
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
		m[reason] = metric.WithAttributes(metricdef.ErrorType.String(reason))
	}
	return m
}()

// runtimeRoots are the roots of cfg, docker's found as dockerd finds it
// when not configured (logged).
func runtimeRoots(cfg config.Attribution, log *zap.Logger) attribution.Roots {
	roots := attribution.Roots{Host: cfg.HostRoot, DockerData: cfg.DockerDataRoot, ContainersStorage: cfg.ContainersStorageRoot}
	if roots.DockerData == "" {
		dir, source, err := attribution.DockerDataRoot(cfg.HostRoot)
		if err != nil {
			log.Warn("docker's containers are looked up under the default data root", zap.String("docker_data_root", dir), zap.Error(err))
		} else {
			log.Debug("docker's data root", zap.String("docker_data_root", dir), zap.String("from", source))
		}
		roots.DockerData = dir
	}
	return roots
}
