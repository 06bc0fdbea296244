// Command envoy-validate checks Envoy bootstrap files with Envoy's own API types: it decodes each YAML file into
// envoy.config.bootstrap.v3.Bootstrap (unknown fields and unknown type URLs are errors), runs the generated
// protoc-gen-validate rules on the bootstrap and on every typed_config packed inside it, and checks that every
// cluster a route or gRPC service names is defined. Envoy itself is not needed.
//
// Usage: envoy-validate FILE.yaml...   (exit status 1 if any file is invalid)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy-validate FILE.yaml...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if errs := validateFile(path); len(errs) > 0 {
			failed = true
			for _, err := range errs {
				fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			}
			continue
		}
		fmt.Printf("%s: ok\n", path)
	}
	if failed {
		os.Exit(1)
	}
}
