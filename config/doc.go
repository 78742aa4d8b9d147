// Package config reads a node's configuration: a YAML file mirrored by
// File (optional, pointer fields), overlaid with command-line flags,
// completed with the defaults of Default and validated into a Runtime,
// which has no pointers and is passed by value.
//
// config imports only policy (for its Duration type). It does not know the
// other packages' Config structs: internal/daemon maps Runtime onto them.
package config
