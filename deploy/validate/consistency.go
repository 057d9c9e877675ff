package main

import (
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// instanceLabel is the label that marks a Helm release's own pods.
const instanceLabel = "app.kubernetes.io/instance"

// podTemplate is what the consistency checks need of a workload: its pod labels.
type podTemplate struct {
	owner  string
	labels labels.Set
}

// checkConsistency runs the checks that span objects or that the schema cannot express.
func checkConsistency(objects []object) []string {
	var problems []string
	seen := map[string]bool{}
	var pods []podTemplate
	workloads := map[string]bool{} // "Deployment/name"

	for _, o := range objects {
		key := o.apiVersion + " " + o.kind + "/" + o.name
		if seen[key] {
			problems = append(problems, o.String()+": rendered twice")
		}
		seen[key] = true
		for _, msg := range nameProblems(o) {
			problems = append(problems, o.String()+": name: "+msg)
		}

		switch o.kind {
		case "Deployment", "StatefulSet", "DaemonSet":
			var w struct {
				Spec struct {
					Selector *metav1.LabelSelector `json:"selector"`
					Template struct {
						Metadata struct {
							Labels map[string]string `json:"labels"`
						} `json:"metadata"`
					} `json:"template"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(o.raw, &w); err != nil {
				problems = append(problems, o.String()+": "+err.Error())
				continue
			}
			podLabels := labels.Set(w.Spec.Template.Metadata.Labels)
			if sel, err := metav1.LabelSelectorAsSelector(w.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
				problems = append(problems, o.String()+": spec.selector does not select the pod template's labels")
			}
			pods = append(pods, podTemplate{owner: o.kind + "/" + o.name, labels: podLabels})
			workloads[o.kind+"/"+o.name] = true
		}
	}

	// selects reports whether a label selector matches at least one rendered pod template.
	selects := func(sel *metav1.LabelSelector) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		for _, p := range pods {
			if s.Matches(p.labels) {
				return true
			}
		}
		return false
	}

	for _, o := range objects {
		switch o.kind {
		case "Service":
			var svc struct {
				Spec struct {
					Selector map[string]string `json:"selector"`
				} `json:"spec"`
			}
			_ = json.Unmarshal(o.raw, &svc)
			if len(svc.Spec.Selector) > 0 && !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}) {
				problems = append(problems, o.String()+": spec.selector selects no pod of this render")
			}
		case "PodDisruptionBudget":
			var pdb struct {
				Spec struct {
					Selector *metav1.LabelSelector `json:"selector"`
				} `json:"spec"`
			}
			_ = json.Unmarshal(o.raw, &pdb)
			if !selects(pdb.Spec.Selector) {
				problems = append(problems, o.String()+": spec.selector selects no pod of this render")
			}
		case "HorizontalPodAutoscaler":
			var hpa struct {
				Spec struct {
					ScaleTargetRef struct {
						Kind string `json:"kind"`
						Name string `json:"name"`
					} `json:"scaleTargetRef"`
				} `json:"spec"`
			}
			_ = json.Unmarshal(o.raw, &hpa)
			if target := hpa.Spec.ScaleTargetRef.Kind + "/" + hpa.Spec.ScaleTargetRef.Name; !workloads[target] {
				problems = append(problems, o.String()+": scaleTargetRef "+target+" is not in this render")
			}
		case "NetworkPolicy":
			problems = append(problems, networkPolicyProblems(o, selects)...)
		}
	}
	return problems
}

// networkPolicyProblems checks that a policy's own selector selects pods of this render, and
// so does every peer that names this release's pods: a pod selector on the instance label
// (app.kubernetes.io/instance), without a namespace selector. Other peers (a database
// operator's pods, Prometheus) are outside the render and are not checked.
func networkPolicyProblems(o object, selects func(*metav1.LabelSelector) bool) []string {
	type peer struct {
		PodSelector       *metav1.LabelSelector `json:"podSelector"`
		NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector"`
	}
	type rule struct {
		From []peer `json:"from"`
		To   []peer `json:"to"`
	}
	var np struct {
		Spec struct {
			PodSelector metav1.LabelSelector `json:"podSelector"`
			Ingress     []rule               `json:"ingress"`
			Egress      []rule               `json:"egress"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(o.raw, &np); err != nil {
		return []string{o.String() + ": " + err.Error()}
	}
	var problems []string
	if !selects(&np.Spec.PodSelector) {
		problems = append(problems, o.String()+": spec.podSelector selects no pod of this render")
	}
	for _, r := range append(np.Spec.Ingress, np.Spec.Egress...) {
		for _, p := range append(r.From, r.To...) {
			if p.PodSelector == nil || p.NamespaceSelector != nil || p.PodSelector.MatchLabels[instanceLabel] == "" {
				continue
			}
			if !selects(p.PodSelector) {
				problems = append(problems, fmt.Sprintf("%s: peer %s selects no pod of this render",
					o, metav1.FormatLabelSelector(p.PodSelector)))
			}
		}
	}
	return problems
}

// nameProblems applies the API server's rules for names: a DNS-1035 label for Services (the
// name becomes a DNS label), a DNS-1123 subdomain for the rest.
func nameProblems(o object) []string {
	if o.name == "" {
		return []string{"metadata.name is empty"}
	}
	if o.kind == "Service" {
		return validation.IsDNS1035Label(o.name)
	}
	if strings.Contains(o.name, "..") {
		return []string{"contains '..'"}
	}
	return validation.IsDNS1123Subdomain(o.name)
}
