package bpf

import "fmt"

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

// Layout constants of the counters map. Each map entry is the block of one
// (interface slot, direction), at BlockIndex(slot, d); Reader passes the
// blocks on as Block values.
const (
	// ClassCount is the number of traffic classes in a block.
	ClassCount = int(CounterPeEntryPE_CLASS_COUNT)
	// EntriesPerDirection is the size of one (interface, direction) block:
	// the traffic classes, the anomaly entries, the packet-size buckets.
	EntriesPerDirection = int(CounterPeEntryPE_ENTRIES_PER_DIRECTION)
	// EntriesPerInterface is the size of one interface's two blocks.
	EntriesPerInterface = 2 * EntriesPerDirection
	// AnomalyFirst is the entry of the first anomaly.
	AnomalyFirst = int(CounterPeEntryPE_ANOMALY_TRUNCATED)
	// AnomalyCount is the number of anomaly entries.
	AnomalyCount = BucketFirst - AnomalyFirst
	// BucketFirst is the entry of the first packet-size bucket.
	BucketFirst = int(CounterPeEntryPE_BUCKET_FIRST)
	// BucketCount is the number of packet-size buckets, the last unbounded.
	BucketCount = int(CounterPeEntryPE_BUCKET_COUNT)
	// StatCount is the number of entries in the stats map.
	StatCount = int(CounterPeStatPE_STAT_COUNT)
)

// BucketBounds are the upper bounds (inclusive, bytes) of the packet-size
// buckets but the last, which has none: the explicit bounds of an
// OpenTelemetry histogram.
var BucketBounds = []float64{64, 128, 256, 512, 1024, 1518, 9000}

// Entries of the stats map.
const (
	StatNoCounter     = int(CounterPeStatPE_STAT_NO_COUNTER)
	StatUnmapped      = int(CounterPeStatPE_STAT_UNMAPPED)
	StatEventsEmitted = int(CounterPeStatPE_STAT_EVENTS_EMITTED)
	StatEventsLost    = int(CounterPeStatPE_STAT_EVENTS_LOST)
)

// Class is a traffic class: the network.type and network.transport attribute
// values of the frames counted in one entry.
type Class struct {
	NetworkType string
	Transport   string
}

var transports = [...]string{
	CounterPeTransportPE_TRANSPORT_TCP:    "tcp",
	CounterPeTransportPE_TRANSPORT_UDP:    "udp",
	CounterPeTransportPE_TRANSPORT_ICMP:   "icmp",
	CounterPeTransportPE_TRANSPORT_ICMPV6: "icmpv6",
	CounterPeTransportPE_TRANSPORT_SCTP:   "sctp",
	CounterPeTransportPE_TRANSPORT_OTHER:  "other",
}

// ClassOf returns the attributes of traffic class entry (0 <= entry < ClassCount).
func ClassOf(entry int) Class {
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

// ClassEntry returns the entry of the traffic class with the given attributes,
// and false when there is none.
func ClassEntry(networkType, transport string) (int, bool) {
	for entry := range ClassCount {
		if c := ClassOf(entry); c.NetworkType == networkType && c.Transport == transport {
			return entry, true
		}
	}
	return 0, false
}

// Anomaly entries follow the classes in each block. A frame with an anomaly is
// counted in its class and in the anomaly entry.
const (
	AnomalyTruncated = int(CounterPeEntryPE_ANOMALY_TRUNCATED)
	AnomalyMalformed = int(CounterPeEntryPE_ANOMALY_MALFORMED)
	AnomalyTooDeep   = int(CounterPeEntryPE_ANOMALY_TOO_DEEP)
)

// AnomalyName returns the error.type attribute value of an anomaly entry.
func AnomalyName(entry int) string {
	switch entry {
	case AnomalyTruncated:
		return "truncated"
	case AnomalyMalformed:
		return "malformed"
	case AnomalyTooDeep:
		return "too_deep"
	default:
		return fmt.Sprintf("anomaly(%d)", entry)
	}
}

// BlockIndex returns the counters map key of the block of interface slot
// and direction d.
func BlockIndex(slot int, d Direction) uint32 {
	return uint32(slot)*2 + uint32(d)
}
