// Package deploy holds the tests of packet-exporter's deployment files.
package deploy
