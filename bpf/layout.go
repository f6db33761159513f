package bpf

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// Direction is the direction of a counted frame relative to its interface.
type Direction uint32

// Directions of counted frames.
const (
	Receive  = Direction(CounterPeDirectionPE_DIRECTION_RECEIVE)
	Transmit = Direction(CounterPeDirectionPE_DIRECTION_TRANSMIT)
)

// String returns the OpenTelemetry network.io.direction value.
func (d Direction) String() string {
	switch d {
	case Receive:
		return "receive"
	case Transmit:
		return "transmit"
	default:
		return fmt.Sprintf("direction(%d)", uint32(d))
	}
}

// Layout constants of the counters map: an entry is the block of one
// (interface slot, direction) at BlockIndex(slot, d), which Reader passes on
// as a Block, whose Entry numbers counters as enum pe_entry does (buckets last).
const (
	// ClassCount is the number of traffic classes in a block.
	ClassCount = int(CounterPeEntryPE_CLASS_COUNT)
	// AnomalyFirst is the entry of the first anomaly.
	AnomalyFirst = int(CounterPeEntryPE_ANOMALY_TRUNCATED)
	// AnomalyCount is the number of anomaly entries.
	AnomalyCount = int(CounterPeEntryPE_ANOMALY_COUNT)
	// BucketFirst is the entry of the first packet-size bucket (Block.Entry).
	BucketFirst = int(CounterPeEntryPE_ANOMALY_END)
	// BucketCount is the number of packet-size buckets, the last unbounded.
	BucketCount = len(CounterPeBlock{}.Buckets)
	// EntriesPerDirection is the number of entries of one block (Block.Entry).
	EntriesPerDirection = BucketFirst + BucketCount
	// StatCount is the number of entries in the stats map.
	StatCount = int(CounterPeStatPE_STAT_COUNT)
)

// The Go view of a block has the kernel's sizes, or these fail to compile.
var (
	_ [len(CounterPeBlock{}.Classes) - ClassCount]struct{}
	_ [ClassCount - len(CounterPeBlock{}.Classes)]struct{}
	_ [len(CounterPeBlock{}.Anomalies) - AnomalyCount]struct{}
	_ [AnomalyCount - len(CounterPeBlock{}.Anomalies)]struct{}
)

// Entries of the stats map.
const (
	StatNoCounter     = int(CounterPeStatPE_STAT_NO_COUNTER)
	StatUnmapped      = int(CounterPeStatPE_STAT_UNMAPPED)
	StatEventsEmitted = int(CounterPeStatPE_STAT_EVENTS_EMITTED)
	StatEventsLost    = int(CounterPeStatPE_STAT_EVENTS_LOST)
)

// kernelLayout is what the kernel programs define and user space names, read
// from the object's BTF: a transport, anomaly or bucket added in C needs no Go change.
type kernelLayout struct {
	transports   []string  // network.transport by enum pe_transport value
	anomalies    []string  // error.type by anomaly entry - AnomalyFirst
	bucketBounds []float64 // enum pe_bucket_bound, ascending
	stats        []string  // enum pe_stat by value
	tunnels      []string  // packet_exporter.tunnel.type by enum pe_tunnel value
}

// layout is the kernel layout; the embedded object always has one (tests
// check it), so failing to read it is a broken build.
var layout = sync.OnceValue(func() kernelLayout {
	l, err := readLayout()
	if err != nil {
		panic(fmt.Sprintf("bpf: the embedded object's layout: %v", err))
	}
	return l
})

func readLayout() (kernelLayout, error) {
	spec, err := counterSpec()
	if err != nil {
		return kernelLayout{}, err
	}
	enum := func(name string) (*btf.Enum, error) {
		var e *btf.Enum
		if err := spec.Types.TypeByName(name, &e); err != nil {
			return nil, fmt.Errorf("enum %s: %w", name, err)
		}
		return e, nil
	}
	// names returns the lower-case names of the enumerators of the enum
	// named enumName that start with prefix, by value, for the values [first, end).
	names := func(enumName, prefix string, first, end int) ([]string, error) {
		e, err := enum(enumName)
		if err != nil {
			return nil, err
		}
		out := make([]string, end-first)
		for _, v := range e.Values {
			if i := int(v.Value) - first; strings.HasPrefix(v.Name, prefix) && i >= 0 && i < len(out) && out[i] == "" {
				out[i] = strings.ToLower(strings.TrimPrefix(v.Name, prefix))
			}
		}
		for i, n := range out {
			if n == "" {
				return nil, fmt.Errorf("enum %s: no %s enumerator of value %d", e.Name, prefix, first+i)
			}
		}
		return out, nil
	}
	var l kernelLayout
	if l.transports, err = names("pe_transport", "PE_TRANSPORT_", 0, int(CounterPeTransportPE_TRANSPORT_COUNT)); err != nil {
		return l, err
	}
	if l.anomalies, err = names("pe_entry", "PE_ANOMALY_", AnomalyFirst, AnomalyFirst+AnomalyCount); err != nil {
		return l, err
	}
	if l.stats, err = names("pe_stat", "PE_STAT_", 0, StatCount); err != nil {
		return l, err
	}
	if l.tunnels, err = names("pe_tunnel", "PE_TUNNEL_", 0, TunnelCount); err != nil {
		return l, err
	}
	bounds, err := enum("pe_bucket_bound")
	if err != nil {
		return l, err
	}
	for _, v := range bounds.Values {
		l.bucketBounds = append(l.bucketBounds, float64(v.Value))
	}
	slices.Sort(l.bucketBounds)
	if len(l.bucketBounds) != BucketCount-1 {
		return l, fmt.Errorf("%d bucket bounds for %d buckets", len(l.bucketBounds), BucketCount)
	}
	return l, nil
}

// BucketBounds returns the upper bounds (inclusive, bytes) of the
// packet-size buckets but the last, which has none: the explicit bounds of
// an OpenTelemetry histogram. The slice is shared: do not modify it.
func BucketBounds() []float64 { return layout().bucketBounds }

// Class is a traffic class: the network.type and network.transport attribute
// values of the frames counted in one entry.
type Class struct {
	NetworkType string
	Transport   string
}

// ClassOf returns the attributes of traffic class entry (0 <= entry < ClassCount).
func ClassOf(entry int) Class {
	transports := layout().transports
	ipv4, ipv6 := int(CounterPeEntryPE_CLASS_IPV4), int(CounterPeEntryPE_CLASS_IPV6)
	switch {
	case entry >= ipv4 && entry < ipv4+len(transports):
		return Class{NetworkType: "ipv4", Transport: transports[entry-ipv4]}
	case entry >= ipv6 && entry < ipv6+len(transports):
		return Class{NetworkType: "ipv6", Transport: transports[entry-ipv6]}
	case entry == int(CounterPeEntryPE_CLASS_ARP):
		return Class{NetworkType: "arp", Transport: "none"}
	default:
		return Class{NetworkType: "other", Transport: "none"}
	}
}

// ClassEntry returns the entry of the traffic class with these attributes (false: none).
func ClassEntry(networkType, transport string) (int, bool) {
	for entry := range ClassCount {
		if c := ClassOf(entry); c.NetworkType == networkType && c.Transport == transport {
			return entry, true
		}
	}
	return 0, false
}

// Anomaly entries follow the classes. A frame with an anomaly is counted in
// its class and in the anomaly entry.
const (
	AnomalyTruncated = int(CounterPeEntryPE_ANOMALY_TRUNCATED)
	AnomalyMalformed = int(CounterPeEntryPE_ANOMALY_MALFORMED)
	AnomalyTooDeep   = int(CounterPeEntryPE_ANOMALY_TOO_DEEP)
)

// AnomalyName returns the error.type attribute value of an anomaly entry.
func AnomalyName(entry int) string {
	if i := entry - AnomalyFirst; i >= 0 && i < AnomalyCount {
		return layout().anomalies[i]
	}
	return fmt.Sprintf("anomaly(%d)", entry)
}

// BlockIndex returns the counters map key of the block of (slot, d).
func BlockIndex(slot int, d Direction) uint32 {
	return uint32(slot)*2 + uint32(d)
}
