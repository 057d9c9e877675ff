#!/bin/sh
# Like the hashicorp/consul image's entrypoint: arguments that start with "-" are agent flags,
# a Consul subcommand runs under the consul binary, anything else runs as given.
set -e
if [ "${1#-}" != "$1" ]; then set -- consul agent "$@"; fi
if consul --help 2>&1 | grep -qE "^    $1 "; then set -- consul "$@"; fi
if [ "$1" = consul ] && [ "$2" = agent ]; then
  shift 2
  set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
fi
exec "$@"
