package packetexporterreceiver

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netns"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/packet-exporter/packet-exporter/config"
	"github.com/packet-exporter/packet-exporter/internal/capability"
	"github.com/packet-exporter/packet-exporter/internal/instance"
	pereceiver "github.com/packet-exporter/packet-exporter/receiver"
)

// productModule is packet-exporter's module path, whose version in the
// collector's build information is the build_info version.
const productModule = "github.com/packet-exporter/packet-exporter"

// counter is one packetexporter receiver's counting: the agent's receiver,
// whose collectors each scrape runs into pdata (pdataMeter). It lives once,
// from start to shutdown: to start again, the collector makes a new receiver.
type counter struct {
	cfg config.Config
	log *zap.Logger
	// netns is the network namespace counted, the collector's own when
	// netns.None() (tests count a namespace of their own).
	netns netns.NsHandle

	mu    sync.Mutex
	lock  *instance.Lock
	recv  *pereceiver.Receiver
	meter *pdataMeter
	// handedOver is set once the state went to a new instance (persistence):
	// scrapes then emit nothing.
	handedOver bool
}

// start checks the capabilities, takes the namespace's instance lock,
// creates the kernel maps and attaches to the interfaces the configuration
// selects, as the agent does. The collector's context ends when start
// returns; counting runs until shutdown.
func (c *counter) start(ctx context.Context, _ component.Host) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if err != nil {
			err = errors.Join(err, c.closeLocked())
		}
	}()
	if err := capability.CheckCurrent(); err != nil {
		return err
	}
	c.lock, err = instance.AcquireIn(c.netns, instance.DefaultName)
	if errors.Is(err, instance.ErrRunning) && c.cfg.Persistence.Enabled {
		c.log.Info("another packet-exporter runs in this network namespace: asking it to hand over",
			zap.Duration("handover_timeout", c.cfg.Persistence.HandoverTimeout))
		c.lock, err = instance.RequestHandoverIn(ctx, c.netns, instance.DefaultName, c.cfg.Persistence.HandoverTimeout)
	}
	if err != nil {
		return err
	}
	if c.cfg.Persistence.Enabled {
		go c.handOverWhenAsked(c.lock.Handover())
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		c.log.Warn("could not raise RLIMIT_MEMLOCK; loading may fail on kernels before 5.11", zap.Error(err))
	}
	// netns.None(), the collector's own namespace, is New's default.
	if c.recv, err = pereceiver.New(c.cfg, c.log, pereceiver.WithNetns(c.netns)); err != nil {
		return fmt.Errorf("create kernel maps: %w", err)
	}
	version := productVersion()
	c.meter = newPdataMeter(version, c.cfg.DisabledMetrics())
	if _, err := c.recv.RegisterMetrics(c.meter, pereceiver.BuildInfo{Version: version, Revision: "unknown"}); err != nil {
		return err
	}
	return c.recv.Start(context.WithoutCancel(ctx))
}

// scrape runs every collector into pdata. A source that could not be read
// (counted in packet_exporter.kernel.read_errors) is a partial failure: the
// other sources' metrics are still emitted.
func (c *counter) scrape(ctx context.Context) (pmetric.Metrics, error) {
	c.mu.Lock()
	meter, recv := c.meter, c.recv
	c.mu.Unlock()
	if meter == nil {
		if c.handedOverNow() {
			return pmetric.NewMetrics(), nil // the new instance reports
		}
		return pmetric.NewMetrics(), errors.New("packetexporter receiver not started")
	}
	md, err := meter.collect(ctx, recv.PacketSizes, recv.SeriesStarts())
	if err != nil {
		return md, scrapererror.NewPartialScrapeError(fmt.Errorf("collect: %w", err), 1)
	}
	return md, nil
}

// handOverWhenAsked hands the state over to a new instance when asked: it
// lets go of what is attached (persistence leaves it counting) and of the
// lock, which the new instance takes. The collector runs on; this receiver
// reports nothing more. A collector cannot be stopped by one of its
// receivers, and the rolling update stops it next.
func (c *counter) handOverWhenAsked(asked <-chan bool) {
	if !<-asked {
		return // the lock was released: shut down
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return // shut down meanwhile
	}
	c.log.Info("a new packet-exporter in this network namespace asks for the state: handing over")
	if err := c.closeLocked(); err != nil {
		c.log.Warn("hand over", zap.Error(err))
	}
	c.handedOver = true
}

func (c *counter) handedOverNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handedOver
}

// shutdown detaches from every interface and releases the maps and the lock.
func (c *counter) shutdown(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeLocked()
}

func (c *counter) closeLocked() error {
	var errs []error
	if c.recv != nil {
		if err := c.recv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach: %w", err))
		}
		c.recv = nil
	}
	c.meter = nil
	if c.lock != nil {
		errs = append(errs, c.lock.Release())
		c.lock = nil
	}
	return errors.Join(errs...)
}

// productVersion is the version of packet-exporter's module the collector
// was built with: "devel" when replaced by a checkout, "dev" when unknown.
func productVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, dep := range info.Deps {
		if dep.Path == productModule {
			switch {
			case dep.Replace == nil:
				return dep.Version
			case dep.Replace.Version != "":
				return dep.Replace.Version
			}
			return "devel" // replaced by a directory: a checkout
		}
	}
	return "dev"
}
