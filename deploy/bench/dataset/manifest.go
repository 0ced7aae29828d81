package dataset

import (
	"encoding/json"
	"fmt"
	"os"
)

// APIKey is the credential the load driver calls with.
type APIKey struct {
	// Name is the key's resource name.
	Name string `json:"name"`
	// Principal is the robot account the key belongs to.
	Principal string `json:"principal"`
	// Secret is sent as "authorization: Bearer <secret>".
	Secret string `json:"secret"`
}

// Manifest is what a loaded dataset hands the load driver.
type Manifest struct {
	// Spec is the dataset's shape.
	Spec Spec `json:"spec"`
	// Organization is the organization's resource name.
	Organization string `json:"organization"`
	// APIKey authenticates the driver as an orchestrator's robot account.
	APIKey APIKey `json:"api_key"`
	// Owner signs in as the organization's owner, who may change group
	// memberships: the driver's visibility phase does.
	Owner Credentials `json:"owner"`
	// Membership is what the driver's visibility phase changes.
	Membership *MembershipTarget `json:"membership"`
	// Rates are the load rates per kind, in load order.
	Rates []Rate `json:"load_rates"`
	// Folders are every folder's resource name, shallowest first.
	Folders []string `json:"folders"`
	// Probes are the Check questions, alternately expected allowed and
	// denied.
	Probes []Probe `json:"probes"`
}

// WriteFile writes m to path as indented JSON, mode 0600: it holds
// secrets.
func (m *Manifest) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// ReadManifest reads a manifest written by WriteFile. It completes one
// written before Owner and Membership existed.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if len(m.Probes) == 0 || m.APIKey.Secret == "" {
		return nil, fmt.Errorf("dataset: %s: no probes or no API key", path)
	}
	if m.Membership == nil {
		// A manifest written before the visibility phase (issue 13): every
		// dataset signs up the same owner, and the target depends on the
		// Spec alone.
		p, err := Generate(m.Spec)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		t, err := p.MembershipTarget()
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		m.Owner, m.Membership = Credentials{Email: ownerEmail, Password: ownerPassword}, &t
	}
	return &m, nil
}
