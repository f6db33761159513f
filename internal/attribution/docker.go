package attribution

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Docker's defaults: where dockerd reads its configuration, and its data root
// when that sets none.
const (
	dockerDaemonConfig    = "/etc/docker/daemon.json"
	DefaultDockerDataRoot = "/var/lib/docker"
)

// DockerDataRoot returns docker's data root on the host whose files are seen
// under hostRoot, as dockerd finds it: the data-root of its configuration
// file (/etc/docker/daemon.json; "graph", its older name, too), else
// DefaultDockerDataRoot. source names where it came from, for a log line. A
// configuration file that exists but cannot be read or decoded gives the
// default and an error saying so. (dockerd's --data-root flag, when used
// instead of the file, is not seen: set attribution.docker_data_root.)
func DockerDataRoot(hostRoot string) (dir, source string, err error) {
	b, err := os.ReadFile(filepath.Join(hostRoot, dockerDaemonConfig))
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultDockerDataRoot, "default", nil
	}
	if err != nil {
		return DefaultDockerDataRoot, "default", fmt.Errorf("read docker's configuration: %w", err)
	}
	var cfg struct {
		DataRoot string `json:"data-root"`
		Graph    string `json:"graph"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return DefaultDockerDataRoot, "default", fmt.Errorf("decode docker's configuration %s: %w", dockerDaemonConfig, err)
	}
	for _, dir := range []string{cfg.DataRoot, cfg.Graph} {
		if dir == "" {
			continue
		}
		if !filepath.IsAbs(dir) {
			return DefaultDockerDataRoot, "default", fmt.Errorf("docker's configuration %s: data-root %q is not an absolute path", dockerDaemonConfig, dir)
		}
		return filepath.Clean(dir), dockerDaemonConfig, nil
	}
	return DefaultDockerDataRoot, "default", nil
}
