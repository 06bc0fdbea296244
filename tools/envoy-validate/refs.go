package main

import (
	"fmt"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// clusterRefs collects the clusters that routes and gRPC services name, to check them against the static clusters,
// plus rules that Envoy enforces at load time rather than in the generated validation (retry_on, ORIGINAL_DST).
type clusterRefs struct {
	used []struct{ name, at string }
	errs []error
}

// retryOnValues are the retry_on conditions Envoy's router accepts (HTTP and gRPC); Envoy refuses others at load.
var retryOnValues = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"envoy-ratelimited": true, "retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true,
	"retriable-headers": true, "http3-post-connect-failure": true, "cancelled": true, "deadline-exceeded": true,
	"internal": true, "resource-exhausted": true, "unavailable": true,
}

func newClusterRefs() *clusterRefs { return &clusterRefs{} }

func (r *clusterRefs) add(name, at string) {
	r.used = append(r.used, struct{ name, at string }{name, at})
}

func (r *clusterRefs) note(m proto.Message, at string) {
	switch v := m.(type) {
	case *routev3.RouteAction:
		if c := v.GetCluster(); c != "" {
			r.add(c, at)
		}
		for _, wc := range v.GetWeightedClusters().GetClusters() {
			r.add(wc.GetName(), at)
		}
	case *corev3.GrpcService_EnvoyGrpc:
		r.add(v.GetClusterName(), at)
	case *routev3.RetryPolicy:
		for _, cond := range strings.Split(v.GetRetryOn(), ",") {
			if !retryOnValues[strings.TrimSpace(cond)] {
				r.errs = append(r.errs, fmt.Errorf("%s: unknown retry_on condition %q", at, cond))
			}
		}
	}
}

func (r *clusterRefs) check(b *bootstrapv3.Bootstrap) []error {
	errs := r.errs
	defined := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		if defined[c.GetName()] {
			errs = append(errs, fmt.Errorf("cluster %q is defined twice", c.GetName()))
		}
		defined[c.GetName()] = true
		errs = append(errs, checkCluster(c)...)
	}
	dynamicClusters := b.GetDynamicResources().GetCdsConfig() != nil
	for _, u := range r.used {
		if !defined[u.name] && !dynamicClusters {
			errs = append(errs, fmt.Errorf("%s: cluster %q is not defined in static_resources.clusters", u.at, u.name))
		}
	}
	return errs
}

// checkCluster mirrors load-time rules of Envoy's ORIGINAL_DST cluster factory.
func checkCluster(c *clusterv3.Cluster) []error {
	if c.GetType() != clusterv3.Cluster_ORIGINAL_DST {
		return nil
	}
	var errs []error
	if c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		errs = append(errs, fmt.Errorf("cluster %q: ORIGINAL_DST needs lb_policy CLUSTER_PROVIDED", c.GetName()))
	}
	if c.GetLoadAssignment() != nil {
		errs = append(errs, fmt.Errorf("cluster %q: ORIGINAL_DST clusters must have no load_assignment", c.GetName()))
	}
	cfg := c.GetOriginalDstLbConfig()
	if !cfg.GetUseHttpHeader() && cfg.GetHttpHeaderName() != "" {
		errs = append(errs, fmt.Errorf("cluster %q: http_header_name needs use_http_header: true", c.GetName()))
	}
	return errs
}
