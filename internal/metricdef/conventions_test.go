package metricdef_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/k8sconv"
	"go.opentelemetry.io/otel/semconv/v1.43.0/systemconv"

	"github.com/packet-exporter/packet-exporter/internal/metricdef"
)

// conventions are the semantic conventions' definitions, as the pinned
// OpenTelemetry Go module generates them, of every metric whose name is not
// packet-exporter's own: the observable variant where there is one (the
// exporter observes them at each collection).
var conventions = map[string]any{
	"system.network.io":             systemconv.NetworkIO{},
	"system.network.packet.count":   systemconv.NetworkPacketCountObservable{},
	"system.network.packet.dropped": systemconv.NetworkPacketDroppedObservable{},
	"system.network.errors":         systemconv.NetworkErrorsObservable{},
	"k8s.pod.network.io":            k8sconv.PodNetworkIOObservable{},
	"k8s.pod.network.errors":        k8sconv.PodNetworkErrorsObservable{},
}

// resourceStyle are resource attributes of the conventions that metrics of
// several resources carry on their points (one exporter reports every pod
// of its node): a metric may add them to the convention's own.
var resourceStyle = []attribute.Key{semconv.K8SPodUIDKey, semconv.K8SPodNameKey, semconv.K8SNamespaceNameKey}

// TestSemanticConventions checks every metric under a semantic-convention
// name against the conventions the pinned module generates: name, unit,
// kind, value type, and each attribute key one the convention defines for
// it (or a resource attribute carried on the points, resourceStyle). Moving to a release that renames or reshapes one fails here; a metric
// added under a name that is not packet_exporter's needs an entry.
func TestSemanticConventions(t *testing.T) {
	for _, def := range metricdef.All {
		if strings.HasPrefix(def.Name, "packet_exporter.") {
			continue
		}
		conv, ok := conventions[def.Name]
		if !ok {
			t.Errorf("%s: not packet-exporter's name, and not in the conventions table", def.Name)
			continue
		}
		v := reflect.ValueOf(conv)
		call := func(method string) string { return v.MethodByName(method).Call(nil)[0].String() }
		if name := call("Name"); name != def.Name {
			t.Errorf("%s: the convention's name is %s", def.Name, name)
		}
		if unit := call("Unit"); unit != def.Unit {
			t.Errorf("%s: unit %q, the convention's %q", def.Name, def.Unit, unit)
		}
		instrument := v.Type().Field(0).Type.Name() // the embedded metric instrument
		kind, float := instrumentKind(instrument)
		if kind != def.Kind.String() || float != def.Float {
			t.Errorf("%s: a %s (float %v), the convention's instrument is %s", def.Name, def.Kind, def.Float, instrument)
		}
		keys := conventionKeys(v)
		for _, a := range def.AllAttributes {
			if !slices.Contains(keys, a.Key) && !slices.Contains(resourceStyle, a.Key) {
				t.Errorf("%s: attribute %s is not the convention's (%v)", def.Name, a.Key, keys)
			}
		}
	}
}

// instrumentKind tells the metricdef kind an instrument type name is (an
// up-down counter is no kind of metricdef's) and whether its values are float.
func instrumentKind(instrument string) (kind string, float bool) {
	float = strings.HasPrefix(instrument, "Float64")
	switch {
	case strings.Contains(instrument, "UpDownCounter"):
		return "updowncounter", float
	case strings.Contains(instrument, "Counter"):
		return metricdef.Counter.String(), float
	case strings.Contains(instrument, "Gauge"):
		return metricdef.Gauge.String(), float
	case strings.Contains(instrument, "Histogram"):
		return metricdef.Histogram.String(), float
	}
	return instrument, float
}

// conventionKeys returns the attribute keys a generated convention type
// defines (its Attr* methods, each called with its argument's zero value).
func conventionKeys(v reflect.Value) []attribute.Key {
	var keys []attribute.Key
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		if !strings.HasPrefix(m.Name, "Attr") || m.Type.NumIn() != 2 {
			continue
		}
		out := v.Method(i).Call([]reflect.Value{reflect.Zero(m.Type.In(1))})
		if kv, ok := out[0].Interface().(attribute.KeyValue); ok {
			keys = append(keys, kv.Key)
		}
	}
	return keys
}
