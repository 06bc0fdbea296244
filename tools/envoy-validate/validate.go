package main

import (
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

// validateFile returns every problem found in one bootstrap file.
func validateFile(path string) []error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	bootstrap, err := parseBootstrap(raw)
	if err != nil {
		return []error{err}
	}
	var errs []error
	refs := newClusterRefs()
	walk(bootstrap, "bootstrap", true, func(m proto.Message, at string, packed bool) {
		// The generated rules recurse into ordinary sub-messages but stop at Any, so run them on the root and on
		// each unpacked typed_config.
		if v, ok := m.(interface{ ValidateAll() error }); ok && packed {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
			}
		}
		refs.note(m, at)
	}, func(at string, err error) { errs = append(errs, fmt.Errorf("%s: %w", at, err)) })
	return append(errs, refs.check(bootstrap)...)
}

func parseBootstrap(raw []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	bootstrap := &bootstrapv3.Bootstrap{}
	// Unknown fields stay errors: a misspelt field must fail, as it does in Envoy.
	if err := protojson.Unmarshal(js, bootstrap); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return bootstrap, nil
}

// walk calls visit for every message in the tree below m, unpacking google.protobuf.Any values (packed is true
// for the root and for messages unpacked from an Any). Anys whose type is unknown are reported through fail.
func walk(m proto.Message, at string, packed bool, visit func(proto.Message, string, bool), fail func(string, error)) {
	if any, ok := m.(*anypb.Any); ok {
		inner, err := any.UnmarshalNew()
		if err != nil {
			fail(at, fmt.Errorf("%s: %w", any.GetTypeUrl(), err))
			return
		}
		walk(inner, at+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", true, visit, fail)
		return
	}
	visit(m, at, packed)
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := at + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				walk(list.Get(i).Message().Interface(), fmt.Sprintf("%s[%d]", name, i), false, visit, fail)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walk(mv.Message().Interface(), fmt.Sprintf("%s[%v]", name, k.Interface()), false, visit, fail)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			walk(v.Message().Interface(), name, false, visit, fail)
		}
		return true
	})
}
