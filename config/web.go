package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
)

// maxWebConfigFileSize is the largest web configuration file read, in bytes.
const maxWebConfigFileSize = 1 << 20

// webConfigProblem describes what is wrong with prometheus.web_config_file,
// or returns "": it must be a readable regular file that the exporter-toolkit
// accepts as a web configuration, and the certificate, key and CA files it
// names must be loadable. Validate checks it whatever prometheus.enabled
// says: the HTTP server runs for the probes in any case.
func webConfigProblem(path string) string {
	data, err := readRegularFile(path, maxWebConfigFileSize)
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
		for _, file := range []struct{ key, path string }{
			{"tls_server_config.cert_file", named.TLS.CertFile},
			{"tls_server_config.key_file", named.TLS.KeyFile},
			{"tls_server_config.client_ca_file", named.TLS.ClientCAFile},
		} {
			if file.path == "" {
				continue
			}
			// Relative paths are relative to the web configuration file, as
			// the toolkit resolves them.
			resolved := file.path
			if !filepath.IsAbs(resolved) {
				resolved = filepath.Join(filepath.Dir(path), resolved)
			}
			if _, err := readRegularFile(resolved, maxTLSFileSize); err != nil {
				return fmt.Sprintf("web configuration file %q: %s %q: %v", path, file.key, resolved, err)
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
// limit bytes.
func readRegularFile(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", unwrapPathError(err))
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file but %s", describeFileType(info.Mode()))
	}
	data, err := readAtMost(path, limit+1)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", unwrapPathError(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// unwrapPathError drops the operation and path of a *fs.PathError, which
// the messages above already name.
func unwrapPathError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// emptyFileMessage is the problem reported for a blank configuration file.
const emptyFileMessage = `the file is empty; write "{}" to run on the defaults, or leave out --config`

// isBlank reports whether data holds nothing but white space.
func isBlank(data []byte) bool {
	return len(bytes.Trim(data, " \t\n\r")) == 0
}

// describeFileType names the kind of a file that is not a regular file.
func describeFileType(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}
