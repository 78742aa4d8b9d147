package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// identityFile is the name, inside the data dir, of the file recording
// which node (and, once known, which cluster) the data dir belongs to.
const identityFile = "node-identity.json"

// identity is the content of identityFile.
type identity struct {
	ClusterID string `json:"cluster_id,omitempty"`
	NodeID    string `json:"node_id"`
}

// readIdentity reads dir's identity file; ok is false when there is none.
func readIdentity(dir string) (id identity, ok bool, err error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("read node identity: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil || id.NodeID == "" {
		return identity{}, false, fmt.Errorf("read node identity %s: not a node identity file (%v)", path, err)
	}
	return id, true, nil
}

// writeIdentity replaces dir's identity file atomically (write a temporary
// file, sync, rename).
func writeIdentity(dir string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("encode node identity: %w", err)
	}
	tmp, err := os.CreateTemp(dir, identityFile+".tmp*")
	if err != nil {
		return fmt.Errorf("write node identity: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, identityFile))
	}
	if err != nil {
		return fmt.Errorf("write node identity: %w", err)
	}
	return nil
}
