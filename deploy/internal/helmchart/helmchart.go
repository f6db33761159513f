// Package helmchart renders the Helm chart deploy/helm/packet-exporter with
// Helm's Go SDK, as `helm template` would: for the chart's tests and for
// `make manifests`, which writes deploy/kubernetes' manifests from it.
package helmchart

import (
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// Release is the release name and namespace of the rendered manifests.
const Release = "packet-exporter"

// Render renders the chart in dir, with values over its defaults (checked
// against its values.schema.json), as release Release installed in namespace
// Release. It returns each template's output by file name (daemonset.yaml,
// NOTES.txt, ...), those that render to nothing left out.
func Render(dir string, values map[string]any) (map[string]string, error) {
	chart, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load the chart: %w", err)
	}
	vals, err := util.ToRenderValues(chart, values, common.ReleaseOptions{Name: Release, Namespace: Release, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	rendered, err := engine.Render(chart, vals)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rendered))
	for name, text := range rendered {
		if strings.TrimSpace(text) != "" {
			out[path.Base(name)] = text
		}
	}
	return out, nil
}

// Manifest joins the outputs of templates, in that order, into one
// multi-document YAML file after header (comment lines).
func Manifest(rendered map[string]string, header string, templates ...string) (string, error) {
	var b strings.Builder
	b.WriteString(header)
	for _, name := range templates {
		text, ok := rendered[name]
		if !ok {
			return "", fmt.Errorf("template %s rendered nothing", name)
		}
		b.WriteString("---\n")
		b.WriteString(strings.TrimLeft(text, "\n"))
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String(), nil
}

// DefaultImage returns the image the chart in dir runs with its defaults:
// its values' image.repository, and image.tag or else its appVersion.
func DefaultImage(dir string) (repository, tag string, err error) {
	chart, err := loader.Load(dir)
	if err != nil {
		return "", "", fmt.Errorf("load the chart: %w", err)
	}
	img, _ := chart.Values["image"].(map[string]any)
	repository, _ = img["repository"].(string)
	tag, _ = img["tag"].(string)
	if tag == "" {
		tag = chart.Metadata.AppVersion
	}
	if repository == "" || tag == "" {
		return "", "", fmt.Errorf("the chart's values name no image.repository, or no tag and no appVersion")
	}
	return repository, tag, nil
}
