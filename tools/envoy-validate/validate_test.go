package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestShippedConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../envoy/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bootstrap files found in envoy/: %v", err)
	}
	for _, f := range files {
		if errs := validateFile(f); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs)
		}
	}
}

// Each broken file differs from envoy/envoy.yaml in one place; the reported error must name that problem.
func TestBrokenConfigsAreRejected(t *testing.T) {
	want := map[string]string{
		"bad-body-mode.yaml":          "FULL_DUPLEX",
		"unknown-field.yaml":          "allow_mode_overide",
		"empty-grpc-cluster.yaml":     "ClusterName",
		"undefined-cluster.yaml":      `"model_server"`,
		"original-dst-lb-policy.yaml": "CLUSTER_PROVIDED",
		"unknown-type.yaml":           "Luaa",
		"bad-port.yaml":               "PortValue",
		"bad-retry-on.yaml":           `"connection-failure"`,
	}
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	if len(files) != len(want) {
		t.Fatalf("expected %d broken files, found %d", len(want), len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		errs := validateFile(f)
		if len(errs) == 0 {
			t.Errorf("%s: accepted, want an error mentioning %q", name, want[name])
			continue
		}
		var all []string
		for _, e := range errs {
			all = append(all, e.Error())
		}
		if joined := strings.Join(all, "\n"); !strings.Contains(joined, want[name]) {
			t.Errorf("%s: errors do not mention %q:\n%s", name, want[name], joined)
		}
	}
}
