// Package e2e holds tracecart's end-to-end suite: it starts the whole system in containers with
// testcontainers-go (infrastructure from infra/images.env, the four services from their own
// Dockerfiles) and drives it only through the gateway, inspecting Jaeger, Prometheus and Consul
// from the outside. The scenarios arrive with the e2e issue; the stack builder will reuse
// shared/testinfra's image resolution.
package e2e
