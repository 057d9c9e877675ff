package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// trafficMatrix reads a render's NetworkPolicies the way a network plugin enforces them and
// lists, one line each, the connections they allow between the render's pods ("gateway ->
// order-service:8080"), then the ones they allow from or to peers outside the render. A
// connection between two pods needs both the caller's egress and the callee's ingress; a pod
// no policy selects for a direction is open in that direction.
//
// The list is what a reviewer compares with the design's call graph: deploy/check.sh keeps it
// next to the golden renders, so a change to who may call whom shows as a one-line diff.
func trafficMatrix(objects []object) []string {
	type workload struct {
		name   string
		labels labels.Set
		ports  []int32
	}
	var pods []workload
	var policies []policy
	for _, o := range objects {
		switch o.kind {
		case "Deployment", "StatefulSet":
			var w struct {
				Spec struct {
					Template struct {
						Metadata struct {
							Labels map[string]string `json:"labels"`
						} `json:"metadata"`
						Spec struct {
							Containers []struct {
								Ports []struct {
									ContainerPort int32 `json:"containerPort"`
								} `json:"ports"`
							} `json:"containers"`
						} `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			}
			_ = json.Unmarshal(o.raw, &w)
			p := workload{labels: w.Spec.Template.Metadata.Labels}
			p.name = p.labels["app.kubernetes.io/name"]
			if p.name == "" {
				p.name = o.name
			}
			for _, c := range w.Spec.Template.Spec.Containers {
				for _, port := range c.Ports {
					p.ports = append(p.ports, port.ContainerPort)
				}
			}
			pods = append(pods, p)
		case "NetworkPolicy":
			var np policy
			_ = json.Unmarshal(o.raw, &np)
			policies = append(policies, np)
		}
	}

	var lines []string
	for _, dst := range pods {
		for _, port := range dst.ports {
			for _, src := range pods {
				if allowed(policies, "Egress", src.labels, dst.labels, port) && allowed(policies, "Ingress", dst.labels, src.labels, port) {
					lines = append(lines, fmt.Sprintf("%s -> %s:%d", src.name, dst.name, port))
				}
			}
			for _, peer := range outsidePeers(policies, "Ingress", dst.labels, port) {
				lines = append(lines, fmt.Sprintf("%s -> %s:%d", peer, dst.name, port))
			}
		}
	}
	for _, src := range pods {
		for _, peer := range outsidePeers(policies, "Egress", src.labels, 0) {
			lines = append(lines, fmt.Sprintf("%s -> %s", src.name, peer))
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

// policy is the part of a NetworkPolicy the matrix needs.
type policy struct {
	Spec struct {
		PodSelector metav1.LabelSelector `json:"podSelector"`
		PolicyTypes []string             `json:"policyTypes"`
		Ingress     []policyRule         `json:"ingress"`
		Egress      []policyRule         `json:"egress"`
	} `json:"spec"`
}

type policyRule struct {
	Ports []struct {
		Port *int32 `json:"port"`
	} `json:"ports"`
	From []policyPeer `json:"from"`
	To   []policyPeer `json:"to"`
}

type policyPeer struct {
	PodSelector       *metav1.LabelSelector `json:"podSelector"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector"`
	IPBlock           *struct {
		CIDR string `json:"cidr"`
	} `json:"ipBlock"`
}

// rules returns the rules of one direction and whether the policy governs that direction.
func (p policy) rules(direction string) ([]policyRule, bool) {
	if !slices.Contains(p.Spec.PolicyTypes, direction) {
		return nil, false
	}
	if direction == "Ingress" {
		return p.Spec.Ingress, true
	}
	return p.Spec.Egress, true
}

func (r policyRule) peers(direction string) []policyPeer {
	if direction == "Ingress" {
		return r.From
	}
	return r.To
}

// portMatches: a rule without ports allows every port; port 0 stands for "any port".
func (r policyRule) portMatches(port int32) bool {
	if len(r.Ports) == 0 || port == 0 {
		return true
	}
	for _, p := range r.Ports {
		if p.Port == nil || *p.Port == port {
			return true
		}
	}
	return false
}

func (r policyRule) portList() string {
	if len(r.Ports) == 0 {
		return "any port"
	}
	var ports []string
	for _, p := range r.Ports {
		if p.Port != nil {
			ports = append(ports, fmt.Sprint(*p.Port))
		}
	}
	return strings.Join(ports, ",")
}

func selectorMatches(sel *metav1.LabelSelector, set labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(set)
}

// allowed reports whether the policies let a pod labelled self talk, in the given direction, to
// a pod of this render (same namespace) labelled other, on port.
func allowed(policies []policy, direction string, self, other labels.Set, port int32) bool {
	governed := false
	for _, p := range policies {
		rules, ok := p.rules(direction)
		if !ok || !selectorMatches(&p.Spec.PodSelector, self) {
			continue
		}
		governed = true
		for _, r := range rules {
			if !r.portMatches(port) {
				continue
			}
			peers := r.peers(direction)
			if len(peers) == 0 {
				return true
			}
			for _, peer := range peers {
				if peer.NamespaceSelector == nil && peer.IPBlock == nil && selectorMatches(peer.PodSelector, other) {
					return true
				}
			}
		}
	}
	return !governed
}

// outsidePeers lists, for the pod labelled self, the peers outside the render its policies
// name in one direction (another namespace, an address block, or anyone), with their ports.
func outsidePeers(policies []policy, direction string, self labels.Set, port int32) []string {
	var out []string
	for _, p := range policies {
		rules, ok := p.rules(direction)
		if !ok || !selectorMatches(&p.Spec.PodSelector, self) {
			continue
		}
		for _, r := range rules {
			if !r.portMatches(port) {
				continue
			}
			suffix := ""
			if direction == "Egress" {
				suffix = ":" + r.portList()
			}
			peers := r.peers(direction)
			if len(peers) == 0 {
				out = append(out, "anyone"+suffix)
			}
			for _, peer := range peers {
				switch {
				case peer.IPBlock != nil:
					out = append(out, "ipBlock "+peer.IPBlock.CIDR+suffix)
				case peer.NamespaceSelector != nil:
					out = append(out, fmt.Sprintf("{namespaces %s, pods %s}%s",
						metav1.FormatLabelSelector(peer.NamespaceSelector), metav1.FormatLabelSelector(peer.PodSelector), suffix))
				case peer.PodSelector != nil && peer.PodSelector.MatchLabels[instanceLabel] == "":
					out = append(out, "{pods "+metav1.FormatLabelSelector(peer.PodSelector)+"}"+suffix)
				}
			}
		}
	}
	return out
}
