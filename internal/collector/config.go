package collector

import (
	"encoding/json"
	"fmt"
	"os"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Environment variables a collector pod gets its secrets from (the
// controller maps them from the touchpoint's Secret references). Only
// main.go reads them, into RunOptions.
const (
	// EnvStoreDSN is the PostgreSQL connection string.
	EnvStoreDSN = "CXLOOP_STORE_DSN"
	// EnvSigningKey is the HMAC key of invitation tokens.
	EnvSigningKey = "CXLOOP_INVITATION_SIGNING_KEY"
	// EnvAPIToken is the touchpoint's credential for the private surface.
	EnvAPIToken = "CXLOOP_API_TOKEN"
	// EnvProgramAPIToken is the program-wide credential for the private
	// surface (optional).
	EnvProgramAPIToken = "CXLOOP_PROGRAM_API_TOKEN"
)

// FileConfig is what a collector reads at start from the file the
// SurveyTouchpoint controller renders into its ConfigMap: where to find its
// touchpoint and store, and a snapshot of the touchpoint's spec to serve
// with until it has read the live object from the API server (which it then
// follows). The hash of this configuration is a pod annotation, so a spec
// change also rolls the collector.
type FileConfig struct {
	// Namespace and Touchpoint identify the SurveyTouchpoint to serve.
	Namespace  string `json:"namespace"`
	Touchpoint string `json:"touchpoint"`
	// Store is "sqlite" or "postgres".
	Store string `json:"store"`
	// SQLitePath is the database file of the embedded store.
	SQLitePath string `json:"sqlitePath,omitempty"`
	// ListenAddress of the public surface (responses, survey pages).
	ListenAddress string `json:"listenAddress"`
	// PrivateListenAddress of the private surface (credentialed API,
	// Prometheus metrics).
	PrivateListenAddress string `json:"privateListenAddress,omitempty"`
	// Spec is the touchpoint's spec at the generation below.
	Spec cxv1alpha1.SurveyTouchpointSpec `json:"spec"`
	// Generation of the touchpoint the snapshot was taken from.
	Generation int64 `json:"generation"`
}

// ReadFileConfig reads and checks a collector configuration file.
func ReadFileConfig(path string) (*FileConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read collector config: %w", err)
	}
	var cfg FileConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parse collector config %s: %w", path, err)
	}
	switch {
	case cfg.Namespace == "" || cfg.Touchpoint == "":
		return nil, fmt.Errorf("collector config %s: namespace and touchpoint are required", path)
	case cfg.Store != "sqlite" && cfg.Store != "postgres":
		return nil, fmt.Errorf("collector config %s: store must be sqlite or postgres, not %q", path, cfg.Store)
	case cfg.Store == "sqlite" && cfg.SQLitePath == "":
		return nil, fmt.Errorf("collector config %s: sqlitePath is required with the sqlite store", path)
	}
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = ":8080"
	}
	if cfg.PrivateListenAddress == "" {
		cfg.PrivateListenAddress = ":8081"
	}
	if cfg.PrivateListenAddress == cfg.ListenAddress {
		return nil, fmt.Errorf("collector config %s: privateListenAddress must differ from listenAddress (%s): the private surface has its own port", path, cfg.ListenAddress)
	}
	return &cfg, nil
}

// SnapshotTouchpoint returns the snapshot as a SurveyTouchpoint object.
func (c *FileConfig) SnapshotTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	tp := &cxv1alpha1.SurveyTouchpoint{Spec: c.Spec}
	tp.Namespace, tp.Name, tp.Generation = c.Namespace, c.Touchpoint, c.Generation
	return tp
}
