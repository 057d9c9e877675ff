#!/usr/bin/env bash
# Certificates and keys for the local cluster, made once into $PKI with openssl: a CA, the API
# server's serving certificate, one client certificate in system:masters for the admin and every
# component (a single-node throwaway cluster; kubeadm gives each its own), the front-proxy pair
# and the service-account signing key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

mkdir -p "$PKI"
cd "$PKI"
[ -f ca.crt ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 \
  -subj /CN=tracecart-local-ca 2>/dev/null
# cert <name> <subject> [subjectAltName]
cert() {
  [ -f "$1.crt" ] && return
  local ext=$1.ext
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  [ -n "${3:-}" ] && printf 'subjectAltName=%s\n' "$3" >>"$ext"
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile "$ext" 2>/dev/null
  rm -f "$1.csr" "$ext"
}
cert apiserver /CN=kube-apiserver \
  "IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
cert admin /O=system:masters/CN=tracecart-admin
cert front-proxy-client /CN=front-proxy-client
[ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
chmod 600 ./*.key

# The kubeconfig every component and the scripts use.
cat >"$KUBECONFIG_ADMIN" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: https://$APISERVER_IP:$APISERVER_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: admin
    user:
      client-certificate: $PKI/admin.crt
      client-key: $PKI/admin.key
contexts:
  - name: local
    context: {cluster: local, user: admin}
current-context: local
KC
