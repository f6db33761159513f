package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// Environment variables read by ApplyEnv.
const (
	envPort     = "PE_PORT"
	envLogLevel = "PE_LOG_LEVEL"
	// envSource is the File of errors about environment variables.
	envSource = "environment"
)

// ApplyEnv applies the environment overrides to c: PE_PORT replaces the port
// of prometheus.listen_address (keeping its host) and PE_LOG_LEVEL replaces
// log.level. An empty variable counts as not set; a nil getenv means
// os.Getenv. c must not be nil.
//
// A bad value is reported as an [*Error] with File "environment" and the
// variable name as Key; then c is left unchanged. The caller should call
// [Config.Validate] afterwards.
func ApplyEnv(c *Config, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	address, err := addressWithEnvPort(c.Prometheus.ListenAddress, getenv(envPort))
	if err != nil {
		return err
	}
	level, err := envLogLevelOr(c.Log.Level, getenv(envLogLevel))
	if err != nil {
		return err
	}
	c.Prometheus.ListenAddress = address
	c.Log.Level = level
	return nil
}

// addressWithEnvPort returns address with its port replaced by the value of
// PE_PORT, or address itself when the variable is empty.
func addressWithEnvPort(address, envValue string) (string, error) {
	if envValue == "" {
		return address, nil
	}
	port, ok := parsePort(envValue)
	if !ok {
		return "", envError(envPort, "invalid port %q (want an integer 1..65535)", envValue)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return "", envError(envPort, "cannot set the port of prometheus.listen_address %q: %v", address, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// envLogLevelOr returns the value of PE_LOG_LEVEL, or level when the
// variable is empty.
func envLogLevelOr(level, envValue string) (string, error) {
	if envValue == "" {
		return level, nil
	}
	if msg := oneOfProblem(envValue, logLevels()); msg != "" {
		return "", envError(envLogLevel, "%s", msg)
	}
	return envValue, nil
}

func envError(variable, format string, args ...any) *Error {
	return &Error{File: envSource, Key: variable, Msg: fmt.Sprintf(format, args...)}
}
