package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
)

// webConfigProblem describes what is wrong with prometheus.web_config_file,
// or returns "": it must be a regular file the exporter-toolkit accepts,
// naming loadable certificate, key and CA files. It is checked whatever
// prometheus.enabled says: the HTTP server runs for the probes in any case.
func webConfigProblem(path string) string {
	data, err := readRegularFile(path, maxFileSize)
	if err != nil {
		return fmt.Sprintf("web configuration file %q: %v", path, err)
	}
	// The toolkit reads the files the configuration names whole; make sure
	// first that none of them is a device, a FIFO or a huge file.
	var named struct {
		TLS struct {
			CertFile     string `yaml:"cert_file"`
			KeyFile      string `yaml:"key_file"`
			ClientCAFile string `yaml:"client_ca_file"`
		} `yaml:"tls_server_config"`
	}
	if yaml.Unmarshal(data, &named) == nil {
		for _, file := range [][2]string{{"cert_file", named.TLS.CertFile}, {"key_file", named.TLS.KeyFile}, {"client_ca_file", named.TLS.ClientCAFile}} {
			// Relative paths are relative to the web configuration file, as
			// the toolkit resolves them.
			key, resolved := file[0], promconfig.JoinDir(filepath.Dir(path), file[1])
			if resolved == "" {
				continue
			}
			if _, err := readRegularFile(resolved, maxTLSFileSize); err != nil {
				return fmt.Sprintf("web configuration file %q: tls_server_config.%s %q: %v", path, key, resolved, err)
			}
		}
	}
	if err := web.Validate(path); err != nil {
		return fmt.Sprintf("invalid web configuration file %q: %v", path, err)
	}
	return ""
}

// readRegularFile reads the regular file at path, refusing other kinds of
// files (a FIFO would block, a device never end) and files larger than
// limit bytes. Its errors leave out the path, which the caller names.
func readRegularFile(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path)
	if err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file but %s", describeFileType(info.Mode()))
	}
	var data []byte
	if err == nil {
		data, err = readAtMost(path, limit+1)
	}
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// describeFileType names the kind of a file that is not a regular file.
func describeFileType(mode fs.FileMode) string {
	for _, kind := range []struct {
		bit  fs.FileMode
		name string
	}{{fs.ModeDir, "a directory"}, {fs.ModeNamedPipe, "a named pipe"}, {fs.ModeSocket, "a socket"}, {fs.ModeCharDevice, "a character device"}, {fs.ModeDevice, "a block device"}} {
		if mode&kind.bit != 0 {
			return kind.name
		}
	}
	return "a special file"
}
