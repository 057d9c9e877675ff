// Package e2e holds tracecart's end-to-end suite: it starts the whole system in containers with
// testcontainers-go (infrastructure from infra/images.env, the four services from their own
// Dockerfiles) and drives it only through the gateway, inspecting Jaeger and Consul from the
// outside.
//
// The packages: stack starts one tracecart on a Docker network of its own; system holds the
// scenarios that run against it; saga proves the order saga with the services as local
// processes, a quicker loop while working on one service.
package e2e
