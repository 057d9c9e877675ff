package walkthrough

import (
	"encoding/json"
	"testing"

	"github.com/tracecart/tracecart/e2e/internal/shoptest"
)

// TestAttrAfterEventMatchesTheEventsFields: with event= in the condition, attr: may name a field
// of that event (the feature flag's key on its evaluation event), but not a field of another
// event, and a span attribute still matches.
func TestAttrAfterEventMatchesTheEventsFields(t *testing.T) {
	var s shoptest.Span
	if err := json.Unmarshal([]byte(`{"operationName": "GET /products/{id}",
		"tags": [{"key": "http.route", "value": "/products/{id}"}],
		"logs": [
			{"fields": [{"key": "event", "value": "feature_flag.evaluation"}, {"key": "feature_flag.key", "value": "productCatalogSlow"}]},
			{"fields": [{"key": "event", "value": "other"}, {"key": "feature_flag.key", "value": "productCatalogFailure"}]}
		]}`), &s); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cond SpanCondition
		want bool
	}{
		{SpanCondition{Event: "feature_flag.evaluation", Attrs: map[string]string{"feature_flag.key": "productCatalogSlow"}}, true},
		{SpanCondition{Event: "feature_flag.evaluation", Attrs: map[string]string{"feature_flag.key": "productCatalogFailure"}}, false},
		{SpanCondition{Event: "feature_flag.evaluation", Attrs: map[string]string{"http.route": "/products/{id}"}}, true},
		{SpanCondition{Attrs: map[string]string{"feature_flag.key": "productCatalogSlow"}}, false},
	} {
		if got := tt.cond.matches(s); got != tt.want {
			t.Errorf("%s matches = %v, want %v", tt.cond, got, tt.want)
		}
	}
}
