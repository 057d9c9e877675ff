package main

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// strictDecoder decodes an object into its typed API struct the way the API server reads a
// request body in strict field validation (kubectl's --validate=strict): unknown and duplicate
// fields are errors, and so is a value of the wrong type.
type strictDecoder struct {
	serializer *json.Serializer
}

// newStrictDecoder knows the API groups a chart like ours uses. A kind from any other group is
// reported as unknown: add its group here (from the same pinned k8s.io/api) when the chart
// needs it.
func newStrictDecoder() (strictDecoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return strictDecoder{}, fmt.Errorf("register API types: %w", err)
		}
	}
	return strictDecoder{serializer: json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Strict: true})}, nil
}

// check returns the decoding problems of obj, none if it decodes strictly.
func (d strictDecoder) check(obj object) []string {
	if _, _, err := d.serializer.Decode(obj.raw, nil, nil); err != nil {
		return []string{"strict decoding: " + err.Error()}
	}
	return nil
}
